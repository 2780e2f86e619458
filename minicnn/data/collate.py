"""Collation: a list of samples to one batch, as PyTorch's ``default_collate``.

    default_collate([(image0, 3), (image1, 7)])   # -> [Tensor (2, C, H, W), Tensor([3, 7])]

The rules, checked against ``torch.utils.data.default_collate``, applied recursively:
- Tensors are stacked along a new first axis;
- NumPy arrays are stacked into a Tensor of their own dtype (float32 stays float32, uint8 uint8);
  a NumPy scalar gives a 1-d Tensor of its dtype;
- Python floats give float64, ints int64, bools bool (``torch.tensor`` of the list: an int
  batch with a float in it gives float32, PyTorch's default float);
- strings and bytes are returned as the sequence they came in (a tuple inside a tuple sample);
- a dict gives a dict of collated values, a namedtuple the namedtuple, a tuple a *list* (as
  PyTorch, for backward compatibility), a list a list; their elements must have one length;
- anything else raises TypeError.
Nothing is truncated: a float target stays float, an int64 input stays int64.
"""

import collections.abc
import copy

import numpy as np

from minicnn.autograd import Tensor
from minicnn.backend import get_array_module
from minicnn.ops import stack

__all__ = ["default_collate", "default_convert"]

_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
          "found {}")


def _is_text(dtype):
    """Strings and objects, which a Tensor cannot hold (PyTorch's ``[SaUO]`` dtype pattern)."""
    return dtype.kind in "SUO"


def _stacked(arrays):
    """One Tensor stacking ``arrays`` (NumPy or CuPy, of one shape) along a new first axis."""
    for position, array in enumerate(arrays):
        if array.shape != arrays[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(arrays[0].shape)} at entry 0 and {list(array.shape)} "
                               f"at entry {position}")
    xp = get_array_module(arrays[0])
    stacked = xp.stack(arrays)
    return Tensor(stacked, dtype=stacked.dtype)


def _python_numbers(batch):
    """``torch.tensor(batch)`` of Python numbers: bool if all are bools, int64 if all are
    integers, else float32 (PyTorch's default float)."""
    if all(isinstance(value, bool) for value in batch):
        return Tensor(np.array(batch, dtype=np.bool_))
    if all(isinstance(value, int) for value in batch):
        return Tensor(np.array(batch, dtype=np.int64))
    return Tensor(np.array(batch, dtype=np.float32))


def default_collate(batch):
    """Merge a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(not isinstance(item, Tensor) for item in batch):
            raise TypeError(_ERROR.format(type(next(item for item in batch
                                                    if not isinstance(item, Tensor)))))
        if any(item.requires_grad for item in batch):   # stays in the graph, as torch.stack
            return stack(batch, 0)
        return _stacked([item.array for item in batch])
    if isinstance(elem, np.ndarray) or (get_array_module(elem) is not np
                                        and hasattr(elem, "dtype")):
        if _is_text(elem.dtype):
            raise TypeError(_ERROR.format(elem.dtype))
        return _stacked([item for item in batch])
    if isinstance(elem, np.generic):
        if _is_text(elem.dtype):
            raise TypeError(_ERROR.format(elem.dtype))
        values = np.array(batch, dtype=elem.dtype)
        return Tensor(values, dtype=values.dtype)
    if isinstance(elem, float):
        return Tensor(np.array(batch, dtype=np.float64), dtype=np.float64)
    if isinstance(elem, int):
        return _python_numbers(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:   # a mapping that cannot be built from a dict
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):    # a namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            clone[:] = columns
            return clone
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data):
    """One sample as a loader without batching (``batch_size=None``) gives it: NumPy arrays and
    scalars become Tensors, containers are converted inside (a tuple becomes a list, as in
    PyTorch), everything else is returned as it is."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)):
        return data if _is_text(data.dtype) else Tensor(data, dtype=data.dtype)
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(item) for item in data))
    if isinstance(data, tuple):
        return [default_convert(item) for item in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(item) for item in data])
        except TypeError:
            return [default_convert(item) for item in data]
    return data
