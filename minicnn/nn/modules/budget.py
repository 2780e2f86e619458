"""A budget on the parameter values that modules allocate, checked before each allocation.

    with parameter_budget(1_000_000):
        model = build()          # ParameterBudgetError before the allocation that would pass it

``minicnn.models.create`` builds every model under one, so that options that ask for a model
of gigabytes (``fractalnet`` with 14 columns, ``vgg16`` with 10^9 classes) are refused in a
line instead of filling the memory. The layers (Conv2d, Linear, the batch norms) allocate their
parameters through ``empty_parameter``; buffers are not counted (a batch norm's running
statistics are as many as its parameters).
"""

import contextvars
import math
from contextlib import contextmanager

import numpy as np

_budget = contextvars.ContextVar("minicnn_parameter_budget", default=None)


class ParameterBudgetError(ValueError):
    """A module asked for more parameter values than the budget in force allows."""


@contextmanager
def parameter_budget(values):
    """Within the block, the parameters that modules allocate may hold ``values`` values in
    all (None: no limit); the one that would pass it raises ParameterBudgetError first."""
    token = _budget.set(None if values is None else {"limit": values, "left": values})
    try:
        yield
    finally:
        _budget.reset(token)


def check_parameters(count, what):
    """ParameterBudgetError now if ``count`` more parameter values would pass the budget in
    force: for a model that counts its parameters (``what``) before it builds them, so that
    it is refused before the first layer is allocated and initialised."""
    budget = _budget.get()
    if budget is not None and count > budget["left"]:
        raise ParameterBudgetError(f"needs {count:,} parameter values ({what}), more than "
                                   f"{budget['limit']:,}")


def empty_parameter(shape, dtype):
    """``np.empty(shape, dtype)`` for a new parameter, counted against the budget in force
    (see parameter_budget) before it is allocated."""
    budget = _budget.get()
    if budget is not None:
        count = math.prod(shape)
        if count > budget["left"]:
            raise ParameterBudgetError(
                f"needs more than {budget['limit']:,} parameter values (a layer of shape "
                f"{tuple(shape)} passes that)")
        budget["left"] -= count
    return np.empty(shape, dtype=dtype)
