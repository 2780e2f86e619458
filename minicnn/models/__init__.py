"""The classic architectures, built only from minicnn layers, one file per family.

    import minicnn as mc
    model = mc.models.create("resnet20")              # 10 classes by default (CIFAR)
    model = mc.models.create("vgg16", num_classes=10)
    mc.models.names()                                 # every registered name
    mc.models.describe("googlenet")                   # a one-line description

Names are torchvision's where torchvision has the model, and the parameters and buffers are
registered in torchvision's order, so a state dict maps across by position.
"""

from minicnn.models.registry import create, default_num_classes, describe, input_size, names
from minicnn.models.lenet import LeNet5, lenet5
from minicnn.models.alexnet import AlexNet, ZFNet, alexnet, zfnet
from minicnn.models.vgg import (VGG, vgg11, vgg11_bn, vgg11_lrn, vgg13, vgg13_bn, vgg16,
                                vgg16_bn, vgg16_c, vgg19, vgg19_bn)
from minicnn.models.nin import NIN, nin
from minicnn.models.googlenet import (GoogLeNet, GoogLeNetOutputs, Inception, NaiveInception,
                                      googlenet, googlenet_naive)
from minicnn.models.resnet import (BasicBlock, Bottleneck, CifarResNet, CifarResNeXt, ResNet,
                                   WideResNet, plain20, plain32, plain44, plain56, resnet18,
                                   resnet20, resnet32, resnet34, resnet44, resnet50, resnet56,
                                   resnet101, resnet110, resnet152, resnext29_8x64d,
                                   resnext50_32x4d, wide_resnet50_2, wrn16_4, wrn28_10)
from minicnn.models.stochastic_depth import StochasticDepth, resnet110_sd
from minicnn.models.densenet import (DenseNet, densenet121, densenet169, densenet201,
                                     densenet_bc100_12)
from minicnn.models.squeezenet import Fire, SqueezeNet, squeezenet1_0, squeezenet1_1
from minicnn.models.fractalnet import FractalNet, fractalnet
from minicnn.models.airbench import Airbench94, airbench94
