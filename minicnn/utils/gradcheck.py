"""Gradient checking: compare backprop with central differences, as in the CS231n exercises.

    result = gradcheck(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
    print(result)            # relative error per input, and the worst elements if it failed
    assert result            # truthy when every input passed

For every input that requires grad, the analytic gradient of sum(f(inputs) * g) (g a random,
non-uniform upstream gradient, so errors cannot cancel) is compared with the numeric one,
(f(x + eps) - f(x - eps)) / (2 eps), element by element. The relative error of an element is
|a - n| / max(|a| + |n|, 1e-8); an input's error is the worst over its elements.
"""

from dataclasses import dataclass, field

import numpy as np

from minicnn.autograd import Tensor, no_grad
from minicnn.backend import get_array_module


@dataclass
class InputCheck:
    """The comparison for one input."""
    index: int
    shape: tuple
    checked: int                      # elements compared
    max_rel_error: float
    max_abs_error: float
    passed: bool
    worst: list = field(default_factory=list)   # (element index, numeric, analytic, rel error),
                                                # failing elements first, worst first


@dataclass
class GradcheckResult:
    passed: bool
    inputs: list

    def __bool__(self):
        return self.passed

    @property
    def max_rel_error(self):
        return max((check.max_rel_error for check in self.inputs), default=0.0)

    def __str__(self):
        lines = [f"gradcheck {'passed' if self.passed else 'FAILED'}"]
        for check in self.inputs:
            status = "ok" if check.passed else "FAILED"
            lines.append(f"  input {check.index} {check.shape}: relative error "
                         f"{check.max_rel_error:.3e} over {check.checked} elements  {status}")
            if not check.passed and check.worst:
                lines.append("    element            numeric          analytic     rel. error")
                for where, numeric, analytic, rel in check.worst:
                    lines.append(f"    {str(where):14s} {numeric:16.9e} {analytic:16.9e} {rel:12.3e}")
        return "\n".join(lines)


def _total(fn, inputs, upstream):
    """sum over outputs of <f(inputs), g>, the scalar whose gradient is checked."""
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return sum(float((out.array * g).sum()) for out, g in zip(outputs, upstream))


def gradcheck(fn, inputs, eps=1e-6, rtol=1e-5, atol=1e-8, max_elements=None, seed=0,
              num_worst=5):
    """Check the gradients of ``fn(*inputs)`` with respect to every input that requires grad.

    inputs: Tensors (inputs that need checking must be float64; others pass through).
    rtol: the largest relative error allowed; an element whose absolute error is at most
        ``atol`` passes too (both gradients tiny, where the relative error is only noise).
    max_elements: compare at most this many elements per input, drawn at random with ``seed``.
    Returns a GradcheckResult, truthy when every input passed.
    """
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} must be float64 for central differences, "
                            f"got {x.dtype}")
    rng = np.random.default_rng(seed)
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    upstream = []
    for out in outputs:
        xp = get_array_module(out.array)
        upstream.append(xp.asarray(rng.standard_normal(out.shape)).astype(out.dtype))

    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    total = None
    for out, g in zip(outputs, upstream):
        if out.requires_grad:
            term = (out * Tensor(g)).sum()
            total = term if total is None else total + term
    if total is None:
        raise ValueError("gradcheck: no output depends on an input that requires grad")
    total.backward()

    checks = []
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.numpy(), dtype=np.float64)
        picks = np.arange(x.numel())
        if max_elements is not None and x.numel() > max_elements:
            picks = np.sort(rng.choice(x.numel(), size=max_elements, replace=False))
        numeric = np.empty(picks.size)
        with no_grad():
            for k, j in enumerate(picks):
                # index the array itself: a reshape of a non-contiguous array would be a copy
                where = np.unravel_index(j, x.shape)
                original = float(x.array[where])
                x.array[where] = original + eps
                plus = _total(fn, inputs, upstream)
                x.array[where] = original - eps
                minus = _total(fn, inputs, upstream)
                x.array[where] = original
                numeric[k] = (plus - minus) / (2 * eps)
        analytic_picked = analytic.reshape(-1)[picks]
        abs_error = np.abs(analytic_picked - numeric)
        rel_error = abs_error / np.maximum(np.abs(analytic_picked) + np.abs(numeric), 1e-8)
        bad = (rel_error > rtol) & (abs_error > atol)
        # the failing elements first, then the largest relative errors
        order = np.lexsort((-rel_error, ~bad))[:num_worst]
        worst = [(tuple(int(i) for i in np.unravel_index(picks[k], x.shape)), float(numeric[k]),
                  float(analytic_picked[k]), float(rel_error[k])) for k in order]
        checks.append(InputCheck(i, x.shape, int(picks.size),
                                 float(rel_error.max(initial=0.0)), float(abs_error.max(initial=0.0)),
                                 not bool(bad.any()), worst))
    return GradcheckResult(all(check.passed for check in checks), checks)
