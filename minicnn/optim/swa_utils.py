"""Averages of a model's weights over training, as PyTorch's ``torch.optim.swa_utils``:
stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and
Better Generalization"), its exponential moving average (EMA), and SWALR, the learning rate
that SWA trains with.

    swa_model = AveragedModel(model)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(epochs):
        ...; optimizer.step()                     # one epoch
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
    update_bn(loader, swa_model)    # without use_buffers: the batch-norm statistics anew
    swa_model(test_images)

The averaging functions take NumPy (or CuPy) arrays where PyTorch's take tensors:
``avg_fn(averaged, current, num_averaged) -> array``; ``multi_avg_fn(averaged_list,
current_list, num_averaged)`` updates the arrays of ``averaged_list`` in place. On integer
arrays (batch norm's ``num_batches_tracked``) the built-in ones compute in float32, as PyTorch's
integer tensors promote to its default dtype, and the result is truncated back.
"""

import copy
import math

import numpy as np

from minicnn.autograd import Tensor, increment_version, no_grad
from minicnn.backend.validate import reals
from minicnn.nn.modules.module import Module
from minicnn.nn.modules.norm import _BatchNorm
from minicnn.optim.lr_scheduler import LRScheduler, _check_optimizer, _per_group

__all__ = ["AveragedModel", "SWALR", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]


def _promoted(array):
    """``array`` as PyTorch's arithmetic sees it: an integer (or bool) one in float32."""
    return array if array.dtype.kind in "fc" else array.astype(np.float32)


def _checked_decay(op, decay):
    """``decay`` as a float if it is a number in [0, 1]: ValueError (validate.reals' errors for
    no number) otherwise, as PyTorch's (which lets NaN through)."""
    (number,) = reals(op, decay=decay)
    if not 0 <= number <= 1:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         f"[0,1] range.")
    return number


def get_ema_avg_fn(decay=0.999):
    """averaged <- decay * averaged + (1 - decay) * current (PyTorch's formula); a decay
    outside [0, 1] is a ValueError."""
    decay = _checked_decay("get_ema_avg_fn", decay)

    def ema_update(averaged, current, num_averaged):
        return decay * _promoted(averaged) + (1 - decay) * _promoted(current)
    return ema_update


def get_swa_avg_fn():
    """The running mean: averaged <- averaged + (current - averaged) / (num_averaged + 1)."""
    def swa_update(averaged, current, num_averaged):
        return _promoted(averaged) + _promoted(current - averaged) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay=0.999):
    """get_ema_avg_fn's update, in place, over lists of arrays (floats as PyTorch's
    ``torch._foreach_lerp_`` with weight 1 - decay, up to its rounding)."""
    decay = _checked_decay("get_ema_multi_avg_fn", decay)

    def ema_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            if averaged.dtype.kind in "fc":
                averaged += (1 - decay) * (current - averaged)
            else:
                averaged[...] = _promoted(averaged) * decay + _promoted(current) * (1 - decay)
    return ema_update


def get_swa_multi_avg_fn():
    """get_swa_avg_fn's update, in place, over lists of arrays. (PyTorch's raises a
    RuntimeError on integer tensors; this one averages them as get_swa_avg_fn does.)"""
    average = get_swa_avg_fn()

    def swa_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged[...] = average(averaged, current, int(num_averaged))
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` (``self.module``) whose parameters are an average of ``model``'s
    over the calls of ``update_parameters(model)``: the first call copies them, later ones
    apply ``multi_avg_fn`` (in place, to the arrays of each device and dtype together) or
    ``avg_fn`` (one array at a time, its result cast back to the array's dtype), by default
    get_swa_avg_fn, the running mean of SWA, one array at a time (PyTorch's path on the CPU);
    either gets ``num_averaged`` as a Python int. Give at most one of the two (AssertionError,
    as in PyTorch). With ``use_buffers`` the buffers are averaged too, integer ones included (batch
    norm's ``num_batches_tracked``, then not a count any more, as in PyTorch); otherwise they
    are copied from ``model`` at each update (then call ``update_bn``). ``n_averaged`` (an int64
    buffer) counts the updates. ``device``: where the copy lives (None: where ``model`` is)."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
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
        buffers = list(zip(mine_buffers, their_buffers))
        if self.use_buffers:
            return list(zip(mine, theirs)) + buffers, []
        return list(zip(mine, theirs)), buffers

    def update_parameters(self, model):
        averaged, copied = self._averaged_pairs(model)
        count = int(self.n_averaged.array)
        current = [theirs.to(mine.device).array for mine, theirs in averaged]
        if count == 0:
            for (mine, _), values in zip(averaged, current):
                mine.array[...] = values
        elif self.multi_avg_fn is not None:
            groups = {}
            for (mine, _), values in zip(averaged, current):
                group = groups.setdefault((mine.device, mine.dtype), ([], []))
                group[0].append(mine.array)
                group[1].append(values)
            for mine_arrays, their_arrays in groups.values():
                self.multi_avg_fn(mine_arrays, their_arrays, count)
        else:
            average = self.avg_fn or get_swa_avg_fn()
            for (mine, _), values in zip(averaged, current):
                mine.array[...] = average(mine.array, values, count)
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


class SWALR(LRScheduler):
    """Anneal each group's learning rate to ``swa_lr`` (a number, or a list of one per group)
    over ``anneal_epochs`` steps, then hold it: the constant learning rate that SWA averages
    under (Izmailov et al. 2018), with PyTorch's ``torch.optim.swa_utils.SWALR`` formula. At
    step t (``_step_count - 1``, not ``last_epoch``, as PyTorch), with
    alpha(t) = (1 - cos(pi * min(t / anneal_epochs, 1))) / 2 for ``anneal_strategy="cos"``,
    or min(t / anneal_epochs, 1) for "linear":

        lr_t = alpha(t) * swa_lr + (1 - alpha(t)) * lr_0

    where lr_0, the learning rate the annealing started from, is recovered at each step from
    the current one, lr_0 = (lr_{t-1} - alpha(t-1) swa_lr) / (1 - alpha(t-1)), so that another
    schedule may have changed it in between. ``anneal_epochs=0`` sets ``swa_lr`` at once.
    ValueError, as PyTorch's, for a list of the wrong length, an ``anneal_strategy`` other than
    "cos" or "linear", or an ``anneal_epochs`` that is not an int >= 0; TypeError or ValueError
    for a ``swa_lr`` that is no number (PyTorch fails at the first step). Each group's target
    is kept as ``group["swa_lr"]``; ``get_lr`` gives the same values outside ``step`` (without
    PyTorch's warning, as minicnn's other schedules)."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos",
                 last_epoch=-1):
        _check_optimizer(optimizer)
        swa_lrs = _per_group("swa_lr", optimizer, swa_lr)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            (group["swa_lr"],) = reals("SWALR", swa_lr=lr)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', "
                             f"instead got {anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self._anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @property
    def anneal_func(self):
        """alpha(t) of the anneal strategy (a property, so that it is not in state_dict)."""
        return self._cosine_anneal if self._anneal_strategy == "cos" else self._linear_anneal

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        """lr_0 from lr = alpha * swa_lr + (1 - alpha) * lr_0 (swa_lr once alpha is 1)."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha
                + self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) * (1 - alpha)
                for group in self.optimizer.param_groups]

    def load_state_dict(self, state_dict):
        """LRScheduler's, except that the saved anneal strategy ("cos" or "linear") replaces
        this one's, as in PyTorch."""
        strategy = self._anneal_strategy
        saved = state_dict.get("_anneal_strategy") if isinstance(state_dict, dict) else None
        if saved in ("cos", "linear"):
            self._anneal_strategy = saved
        try:
            super().load_state_dict(state_dict)
        except (TypeError, ValueError):
            self._anneal_strategy = strategy
            raise
