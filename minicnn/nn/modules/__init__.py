from minicnn.nn.modules.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minicnn.nn.modules.container import ModuleList, Sequential
from minicnn.nn.modules.conv import Conv2d, ConvTranspose2d
from minicnn.nn.modules.linear import Flatten, Identity, Linear
from minicnn.nn.modules.loss import CrossEntropyLoss, MSELoss, NLLLoss
from minicnn.nn.modules.module import Module, Parameter

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "Flatten",
           "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "Conv2d", "ConvTranspose2d"]
