"""The Optimizer base class: parameter groups, per-parameter state and state dicts, as PyTorch.

An optimizer holds ``param_groups``, a list of dicts, each with ``"params"`` (a list of
Parameters) and every hyper-parameter (``"lr"``, ``"momentum"``, ...); learning-rate schedules
change those values between steps. ``state`` maps each parameter to a dict of what its update
remembers (momentum buffers, moment estimates, the step count), created on its first step.
"""

import math
from collections import defaultdict
from inspect import signature
from itertools import chain

import numpy as np

from minicnn.autograd import Tensor, enable_grad, increment_version, no_grad
from minicnn.backend import get_array_module
from minicnn.backend.arrays import fma


_UNORDERED = ("optimizer parameters need to be organized in ordered collections, but the "
              "ordering of tensors in sets will change between runs. Please use a list instead.")


def check_hyperparameter(name, value, low=0.0, high=None):
    """Raise an error naming ``name`` unless ``value`` is a number with low <= value (and
    value < high when ``high`` is given)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= low or (high is not None and not value < high):
        expected = f">= {low}" if high is None else f"in [{low}, {high})"
        raise ValueError(f"Invalid {name} value: {value} (expected {expected})")


class Optimizer:
    """Base class: subclasses pass their ``defaults`` (every hyper-parameter by name) and write
    ``step``. ``params`` is an iterable of Parameters, or of dicts (parameter groups) with a
    ``"params"`` entry and any hyper-parameters that differ from the defaults."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with "params"), filling in the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(param).__name__}")
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        ids = [id(param) for param in param_group["params"]]
        if len(ids) != len(set(ids)):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = {id(param) for group in self.param_groups for param in group["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set ``.grad`` to None (default), or fill it with zeros."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    if set_to_none:
                        param.grad = None
                    else:
                        with no_grad():
                            param.grad.zero_()      # a write: counted in the grad's version

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional)
        re-evaluates the model and returns the loss, which ``step`` returns."""
        raise NotImplementedError

    def _evaluate(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_to_update(self, group):
        """The parameters of ``group`` that this step writes (those with a gradient). Each write
        is counted in the parameter's version, so a backward that saved the old values raises,
        as in PyTorch (a discriminator step before the generator's backward, say)."""
        params = [param for param in group["params"] if param.grad is not None]
        for param in params:
            increment_version(param)
        return params

    @staticmethod
    def _gradient(param, group):
        """The gradient a step of ``group`` uses for ``param``: negated under ``maximize``, plus
        ``weight_decay * param`` (L2, PyTorch's default); under ``decoupled_weight_decay`` the
        parameter is shrunk in place by ``1 - lr * weight_decay`` instead (AdamW's rule)."""
        p, scalar = param.array, param.array.dtype.type
        g = -param.grad.array if group["maximize"] else param.grad.array
        if group["weight_decay"] != 0:
            if group.get("decoupled_weight_decay"):
                p *= scalar(1 - group["lr"] * group["weight_decay"])
            else:
                g = fma(p, scalar(group["weight_decay"]), g)
        return g

    @staticmethod
    def _zeros_like(param):
        xp = get_array_module(param.array)
        return Tensor(xp.zeros_like(param.array))

    # ----- state dicts ------------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``,
        with parameters numbered in the order of the groups, as PyTorch. A snapshot: its
        arrays are copies, so later steps do not change it."""
        index_of = {}
        param_groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed["params"] = [index_of[id(param)] for param in group["params"]]
            param_groups.append(packed)
        state = {}
        for param, param_state in self.state.items():
            state[index_of[id(param)]] = {
                name: Tensor(value.array.copy()) if isinstance(value, Tensor) else value
                for name, value in param_state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by ``state_dict`` from an optimizer over
        parameters of the same shapes, in the same groups. Arrays are copied, cast to each
        parameter's dtype and moved to its device."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with the keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, list) or not isinstance(state_dict["state"], dict):
            raise TypeError("state_dict: 'param_groups' must be a list and 'state' a dict")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than the optimizer ({len(self.param_groups)})")
        for index, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            self._check_saved_group(index, saved)
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        param_of = dict(zip(chain.from_iterable(saved["params"] for saved in saved_groups),
                            chain.from_iterable(group["params"] for group in self.param_groups)))
        state = defaultdict(dict)
        for index, param_state in state_dict["state"].items():
            if index not in param_of:
                raise ValueError(f"loaded state dict has state for parameter {index}, which "
                                 "no parameter group lists")
            param = param_of[index]
            state[param] = {name: self._restore(param, name, value)
                            for name, value in param_state.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {key: value for key, value in saved.items() if key != "params"}
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        self.state = state
        self.param_groups = new_groups

    def _check_saved_group(self, index, saved):
        """A saved parameter group must list parameter indices and hold every hyper-parameter
        of this optimizer, each of the default's kind, finite, and passing the constructor's
        own rules (so a checkpoint cannot set what ``type(self)(..., lr=-5)`` refuses)."""
        where = f"param_groups[{index}]"
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), list) or not all(
                type(i) is int for i in saved["params"]):
            raise ValueError(f"{where} must be a dict whose 'params' lists parameter indices")
        for name, default in self.defaults.items():
            if name not in saved:
                raise ValueError(f"{where} lacks the hyper-parameter {name!r}")
            if not _same_kind(default, saved[name]):
                raise TypeError(f"{where}.{name} must be {_kind(default)}, got {saved[name]!r:.60}")
        accepted = signature(type(self)).parameters
        hyper = {name: saved[name] for name in self.defaults if name in accepted}
        try:
            signature(type(self)).bind([], **hyper)
        except TypeError:
            return     # a subclass whose constructor needs other arguments: nothing to reuse
        try:
            type(self)([Tensor(np.zeros(1), requires_grad=True)], **hyper)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{where}: {error}") from None

    @staticmethod
    def _restore(param, name, value):
        if name == "step":
            if type(value) is not int or value < 0:
                raise ValueError(f"loaded state 'step' must be an integer >= 0, got {value!r:.60}")
            return value
        if isinstance(value, float):        # a running scalar (NAdam's mu_product)
            if not np.isfinite(value):
                raise ValueError(f"loaded state {name!r} must be finite, got {value!r}")
            return value
        if not isinstance(value, Tensor) and not hasattr(value, "shape"):
            raise TypeError(f"loaded state {name!r} must be an array or a float, got "
                            f"{type(value).__name__}")
        array = value.array if isinstance(value, Tensor) else value
        if tuple(array.shape) != param.shape:
            raise ValueError(f"loaded state {name!r} has shape {tuple(array.shape)}, but its "
                             f"parameter has shape {param.shape}")
        xp = get_array_module(param.array)
        if xp is np and get_array_module(array) is not np:
            array = array.get()
        if array.dtype.kind != "f" or not xp.isfinite(xp.asarray(array)).all():
            raise ValueError(f"loaded state {name!r} must hold finite floating-point values")
        return Tensor(xp.array(array, dtype=param.dtype))


def _kind(default):
    if isinstance(default, bool):
        return "True or False"
    if isinstance(default, (int, float)):
        return "a finite number"
    if isinstance(default, (tuple, list)):
        return f"a sequence of {len(default)} finite numbers"
    return f"a {type(default).__name__}"


def _same_kind(default, value):
    """Whether a hyper-parameter loaded from a file is of the kind of its default: a bool, a
    finite number, a sequence of them of the same length, or (other defaults) the same type."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float, np.integer, np.floating)) and \
            not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and len(value) == len(default) and all(
            _same_kind(d, v) for d, v in zip(default, value))
    return default is None or type(value) is type(default)
