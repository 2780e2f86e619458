"""Tools around the models: gradient checks, summary, checkpoints, plots; and ``utils.data``,
PyTorch's name (``torch.utils.data``) for :mod:`minicnn.data`."""

import sys

from minicnn import data
from minicnn.utils.gradcheck import GradcheckResult, gradcheck
from minicnn.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minicnn.utils.image_grid import make_grid
from minicnn.utils.summary import Summary, summary

sys.modules[__name__ + ".data"] = data   # so `import minicnn.utils.data` finds it too
