"""What ``minicnn check`` runs for exercise lrn_forward (local response normalisation across
channels (AlexNet, section 3.3)): the cases, the reference (minicnn's own ops, never the
solution) and the mistakes it recognises. The skeleton is
``minicnn/teach/exercises/lrn_forward.py``, the solution (source tree only)
``minicnn/teach/solutions/lrn_forward.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import Case, Exercise, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import forward


def _lrn_cases(rng):
    cases = []
    for N, C, size in [(1, 5, 3), (2, 6, 4), (int(rng.integers(1, 3)), int(rng.integers(3, 8)),
                                              int(rng.integers(2, 6)))]:
        values = {"x": rng.standard_normal((N, C, 3, 3)) * 2, "size": size, "alpha": 0.3,
                  "beta": 0.75, "k": 2.0}
        cases.append(Case(f"x {N}x{C}x3x3, size {size}, alpha 0.3, beta 0.75, k 2", values))
    return cases


def _lrn(values, alpha=None, squares=None, window=None):
    """LRN with a mistake: another alpha, other values than x^2 summed, another window."""
    x, size = values["x"], values["size"]
    alpha = values["alpha"] if alpha is None else alpha
    squares = x * x if squares is None else squares
    before, after = (size // 2, (size - 1) // 2) if window is None else window
    C = x.shape[1]
    total = np.stack([squares[:, max(c - before, 0):c + after + 1].sum(axis=1) for c in range(C)],
                     axis=1)
    return x * (values["k"] + alpha / size * total) ** -values["beta"]


EXERCISE = Exercise("lrn_forward", (
    Part("lrn_forward", lambda v: {"y": forward(lambda x: F.local_response_norm(
        x, v["size"], v["alpha"], v["beta"], v["k"]), v["x"])},
         arguments("x", "size", "alpha", "beta", "k"), outputs("y"), (
             same_as("y", "alpha is divided by the window size here, as in PyTorch and Caffe: "
                          "k + alpha / size * sum (the AlexNet paper's alpha already includes "
                          "the 1/size)", lambda v: _lrn(v, alpha=v["alpha"] * v["size"])),
             same_as("y", "sum the SQUARES of the neighbours, x_j^2",
                     lambda v: _lrn(v, squares=np.abs(v["x"]))),
             same_as("y", "the window of channel c is c - size//2 .. c + (size - 1)//2",
                     lambda v: _lrn(v, window=((v["size"] - 1) // 2, v["size"] // 2))),
         )),
), _lrn_cases)
