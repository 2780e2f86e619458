"""Optimizers and learning-rate schedules, with PyTorch's update rules and names.

    opt = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = mc.optim.lr_scheduler.MultiStepLR(opt, milestones=[80, 120], gamma=0.1)
"""

from minicnn.optim import lr_scheduler, swa_utils
from minicnn.optim.adadelta import Adadelta
from minicnn.optim.adagrad import Adagrad
from minicnn.optim.adam import Adam, AdamW
from minicnn.optim.adamax import Adamax
from minicnn.optim.lookahead import Lookahead
from minicnn.optim.nadam import NAdam
from minicnn.optim.radam import RAdam
from minicnn.optim.optimizer import Optimizer
from minicnn.optim.rmsprop import RMSprop
from minicnn.optim.sgd import SGD

__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lookahead", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "SGD", "lr_scheduler", "swa_utils"]
