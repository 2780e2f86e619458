"""Averages of a model's weights over training, as PyTorch's ``torch.optim.swa_utils``:
stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and
Better Generalization") and its exponential moving average (EMA).

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
    for images, labels in loader:
        ...; optimizer.step()
        ema.update_parameters(model)
    update_bn(loader, ema)          # for SWA without use_buffers: batch-norm statistics anew
    ema(test_images)

The averaging functions take NumPy (or CuPy) arrays where PyTorch's take tensors:
``avg_fn(averaged, current, num_averaged) -> array``; ``multi_avg_fn(averaged_list,
current_list, num_averaged)`` updates the arrays of ``averaged_list`` in place.
"""

import copy

import numpy as np

from minicnn.autograd import Tensor, increment_version, no_grad
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.norm import _BatchNorm

__all__ = ["AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]


def get_ema_avg_fn(decay=0.999):
    """averaged <- decay * averaged + (1 - decay) * current."""
    def ema_update(averaged, current, num_averaged):
        return decay * averaged + (1 - decay) * current
    return ema_update


def get_swa_avg_fn():
    """The running mean: averaged <- averaged + (current - averaged) / (num_averaged + 1)."""
    def swa_update(averaged, current, num_averaged):
        return averaged + (current - averaged) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay=0.999):
    """get_ema_avg_fn's update, in place, over lists of arrays."""
    def ema_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged += (1 - decay) * (current - averaged)
    return ema_update


def get_swa_multi_avg_fn():
    """get_swa_avg_fn's update, in place, over lists of arrays."""
    def swa_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged += (current - averaged) / (int(num_averaged) + 1)
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` (``self.module``) whose parameters are an average of ``model``'s
    over the calls of ``update_parameters(model)``: the first call copies them, later ones
    apply ``multi_avg_fn`` (in place, over all the arrays) or ``avg_fn`` (one array at a time),
    by default the running mean (SWA). With ``use_buffers`` the floating-point buffers (batch
    norm's running statistics) are averaged too; otherwise the buffers are copied from
    ``model`` at each update (then call ``update_bn``, as PyTorch says). Integer buffers (batch
    norm's ``num_batches_tracked``) are always copied. ``n_averaged`` (an int64 buffer) counts
    the updates. ``device``: where the copy lives (None: where ``model`` is)."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module.to(device)
        self.register_buffer("n_averaged", Tensor(np.array(0, dtype=np.int64)))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _averaged_pairs(self, model):
        """(this copy's tensor, model's tensor) for what is averaged, and for what is copied."""
        mine = list(self.module.parameters())
        theirs = list(model.parameters())
        mine_buffers, their_buffers = list(self.module.buffers()), list(model.buffers())
        if len(mine) != len(theirs) or len(mine_buffers) != len(their_buffers):
            raise ValueError("AveragedModel.update_parameters: the model's parameters and "
                             "buffers do not match the averaged copy's")
        averaged = list(zip(mine, theirs))
        copied = []
        for pair in zip(mine_buffers, their_buffers):
            floating = np.issubdtype(pair[0].dtype, np.floating)
            (averaged if self.use_buffers and floating else copied).append(pair)
        return averaged, copied

    def update_parameters(self, model):
        averaged, copied = self._averaged_pairs(model)
        count = int(self.n_averaged.array)
        current = [theirs.to(mine.device).array for mine, theirs in averaged]
        if count == 0:
            for (mine, _), values in zip(averaged, current):
                mine.array[...] = values
        elif self.multi_avg_fn is not None or self.avg_fn is None:
            update = self.multi_avg_fn or get_swa_multi_avg_fn()
            update([mine.array for mine, _ in averaged], current, count)
        else:
            for (mine, _), values in zip(averaged, current):
                mine.array[...] = self.avg_fn(mine.array, values, count)
        for mine, theirs in copied:
            mine.array[...] = theirs.to(mine.device).array
        for mine, _ in averaged + copied:
            increment_version(mine)
        self.n_averaged.array[...] = count + 1


def update_bn(loader, model, device=None):
    """Recompute the running mean and variance of every batch norm of ``model`` as the plain
    average over one pass of ``loader`` (batches of images, or (images, ...) tuples, whose first
    element is the input), as PyTorch's: the statistics are reset, momentum is None for the
    pass, then restored, as is the model's mode. Does nothing for a model without batch norm."""
    layers = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    if not layers:
        return
    momenta = {}
    for layer in layers:
        layer.reset_running_stats()
        momenta[layer] = layer.momentum
        layer.momentum = None
    was_training = model.training
    model.train()
    with no_grad():
        for batch in loader:
            images = batch[0] if isinstance(batch, (list, tuple)) else batch
            images = images if isinstance(images, Tensor) else Tensor(np.asarray(images))
            if device is not None:
                images = images.to(device)
            model(images)
    for layer in layers:
        layer.momentum = momenta[layer]
    model.train(was_training)
