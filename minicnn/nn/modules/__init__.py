from minicnn.nn.modules.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minicnn.nn.modules.container import ModuleList, Sequential
from minicnn.nn.modules.conv import Conv2d, ConvTranspose2d
from minicnn.nn.modules.linear import Flatten, Identity, Linear
from minicnn.nn.modules.loss import CrossEntropyLoss, MSELoss, NLLLoss
from minicnn.nn.modules.module import Module, Parameter
from minicnn.nn.modules.dropout import Dropout, Dropout2d
from minicnn.nn.modules.norm import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from minicnn.nn.modules.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from minicnn.nn.modules.sync_batchnorm import SyncBatchNorm

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "Flatten",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "Conv2d", "ConvTranspose2d",
           "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "BatchNorm1d",
           "BatchNorm2d", "SyncBatchNorm", "LocalResponseNorm", "Dropout", "Dropout2d"]
