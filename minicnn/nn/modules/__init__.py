from minicnn.nn.modules.activation import (ELU, GELU, LeakyReLU, LogSoftmax, PReLU, ReLU, Sigmoid,
                                           SiLU, Softmax, Softplus, Tanh)
from minicnn.nn.modules.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,
                                          Sequential)
from minicnn.nn.modules.conv import Conv1d, Conv2d, ConvTranspose2d
from minicnn.nn.modules.lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyConv1d, LazyConv2d,
                                     LazyLinear, UninitializedParameter)
from minicnn.nn.modules.linear import Flatten, Identity, Linear
from minicnn.nn.modules.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss,
                                     KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from minicnn.nn.modules.normalization import GroupNorm, LayerNorm
from minicnn.nn.modules.sparse import Embedding
from minicnn.nn.modules.upsampling import Upsample
from minicnn.nn.modules.module import Module, Parameter
from minicnn.nn.modules.dropout import Dropout, Dropout2d
from minicnn.nn.modules.norm import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from minicnn.nn.modules.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from minicnn.nn.modules.sync_batchnorm import SyncBatchNorm

__all__ = ["Module", "Parameter", "UninitializedParameter", "Sequential", "ModuleList",
           "ModuleDict", "ParameterList", "ParameterDict", "Linear", "Identity", "Flatten",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU", "SiLU", "ELU",
           "Softplus", "PReLU", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss",
           "HuberLoss", "KLDivLoss", "BCELoss", "BCEWithLogitsLoss",
           "Conv1d", "Conv2d", "ConvTranspose2d", "LazyLinear", "LazyConv1d", "LazyConv2d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LayerNorm", "GroupNorm", "Embedding", "Upsample",
           "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "BatchNorm1d",
           "BatchNorm2d", "SyncBatchNorm", "LocalResponseNorm", "Dropout", "Dropout2d"]
