"""``mc.backends``: PyTorch's ``torch.backends`` switches, so a program's
``import torch.backends.cudnn as cudnn`` line imports. minicnn's kernels are its own
(:mod:`minicnn.backend`: NumPy / C on the CPU, CuPy RawModule kernels and cuBLAS on a GPU)."""

from minicnn.backends import cudnn
