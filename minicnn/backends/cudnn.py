"""``mc.backends.cudnn``: ``torch.backends.cudnn``'s flags. minicnn does not call cuDNN (its GPU
convolution is im2col + cuBLAS, :mod:`minicnn.backend.cuda`), so ``is_available()`` is False and
``version()`` None, as in a PyTorch built without cuDNN; ``enabled``, ``benchmark`` and
``deterministic`` may be set (kuangliu's ``cudnn.benchmark = True``) and change nothing:
minicnn picks no algorithm by timing, and its kernels give the same result on every run."""

enabled = True
benchmark = False
deterministic = False


def is_available():
    """False: minicnn does not use cuDNN."""
    return False


def version():
    """None: minicnn does not use cuDNN."""
    return None
