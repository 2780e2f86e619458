"""Layers and containers (``import minicnn.nn as nn``), the functional ops (``nn.functional``)
and weight initialisation (``nn.init``)."""

from minicnn.nn import functional, init, parallel, utils
from minicnn.nn.modules import *  # noqa: F401,F403  (the layer classes, as in torch.nn)
from minicnn.nn.data_parallel import DataParallel
