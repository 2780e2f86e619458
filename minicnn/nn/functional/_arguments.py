"""Argument checks that the functional ops share: each op checks its arguments once, here,
before any kernel runs, and names the op and the argument in its error."""

from minicnn.autograd import Tensor
from minicnn.backend.validate import float_dtype


def check_input(op, input, ndims=None, name="input"):
    """``input`` must be a float32 / float64 Tensor with a number of dimensions in ``ndims``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(input).__name__}")
    if ndims is not None and input.ndim not in ndims:
        raise ValueError(f"{op}: {name} must have {' or '.join(map(str, ndims))} dimensions, "
                         f"got shape {input.shape}")
    float_dtype(f"{op}: {name}", input.dtype)


def run_batched(function, input, *others, **options):
    """``function.apply(input, *others, **options)`` on a batch: an unbatched (C, H, W) input
    runs as a batch of one, and each output loses that batch dimension again."""
    if input.ndim == 4:
        return function.apply(input, *others, **options)
    outputs = function.apply(input.unsqueeze(0), *others, **options)
    if isinstance(outputs, tuple):
        return tuple(output.squeeze(0) for output in outputs)
    return outputs.squeeze(0)
