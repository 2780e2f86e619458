"""What ``minicnn check`` runs for exercise batch_norm (spatial batch normalisation, forward
(training and eval) and backward): the cases, the reference (minicnn's own ops, never the
solution) and the mistakes it recognises. The skeleton is
``minicnn/teach/exercises/batch_norm.py``, the solution (source tree only)
``minicnn/teach/solutions/batch_norm.py``."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.teach.checker import Case, Exercise, Gradient, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import forward, with_grads
from minicnn.teach.specs.batch_norm_1d import CS231N_RUNNING_HINT


def _bn_cases(rng):
    cases = []
    for N, C, H, W in [(2, 3, 4, 4), (1, 2, 3, 5), (int(rng.integers(1, 4)),
                                                      int(rng.integers(1, 4)), 3, 3)]:
        x = rng.standard_normal((N, C, H, W)) * rng.uniform(0.5, 3, (1, C, 1, 1)) \
            + rng.standard_normal((1, C, 1, 1))
        cases.append(Case(f"x {N}x{C}x{H}x{W}", {
            "x": x, "gamma": rng.uniform(0.5, 1.5, C), "beta": rng.standard_normal(C),
            "running_mean": rng.standard_normal(C) * 0.1, "running_var": rng.uniform(0.5, 2, C),
            "momentum": 0.1, "eps": 1e-5, "dout": rng.standard_normal((N, C, H, W))}))
    return cases


def _bn(values, training):
    """(y, new running mean, new running var) of minicnn's batch norm."""
    mean, var = values["running_mean"].copy(), values["running_var"].copy()
    running = (mc.tensor(mean), mc.tensor(var))
    y = forward(lambda x, g, b: F.batch_norm(x, running[0], running[1], g, b, training=training,
                                              momentum=values["momentum"], eps=values["eps"]),
                 values["x"], values["gamma"], values["beta"])
    return {"y": y, "new_running_mean": running[0].numpy(), "new_running_var": running[1].numpy()}


def _bn_forward_reference(values):
    return _bn(values, values["training"])


def _bn_grads(values):
    _, grads = with_grads(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True,
                                                         eps=values["eps"]),
                           [values["x"], values["gamma"], values["beta"]], values["dout"])
    return grads


def _bn_dx_without(values, term):
    """dx with the mean term or the variance term of the chain rule left out."""
    x, dout, eps = values["x"], values["dout"], values["eps"]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    xhat = (x - mean) * invstd
    gamma = values["gamma"][:, None, None]
    mean_term = dout.mean(axis=(0, 2, 3), keepdims=True)
    variance_term = xhat * (dout * xhat).mean(axis=(0, 2, 3), keepdims=True)
    kept = {"mean": variance_term, "variance": mean_term}[term]
    return gamma * invstd * (dout - kept)


BN_AXES_HINT = ("statistics over axis 0 only, as for a fully connected layer's (N, D) input: "
                "spatial batch norm takes each channel's mean and variance over N, H and W "
                "together (axis=(0, 2, 3)), M = N*H*W values")


def _bn_over_batch_only(values):
    """Training-mode y with the statistics of batch norm on (N, D): over axis 0 alone."""
    x = values["x"]
    if not values["training"] or x.shape[2] * x.shape[3] == 1:
        return np.full_like(x, np.nan)
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + values["eps"])
    return values["gamma"][:, None, None] * xhat + values["beta"][:, None, None]


def _bn_dx_over_batch_only(values, output="dx"):
    """dx (or dgamma) of batch norm with the (N, D) axes: every (c, h, w) on its own."""
    x, dout, eps, N = values["x"], values["dout"], values["eps"], values["x"].shape[0]
    if N == 1 and output == "dx":
        return np.full_like(x, np.nan)
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    if output == "dgamma":
        return (dout * xhat).sum(axis=0)
    gamma = values["gamma"][:, None, None]
    return gamma / np.sqrt(x.var(axis=0) + eps) / N * (
        N * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))


def _bn_forward_cases(rng):
    cases = []
    for case in _bn_cases(rng):
        for training in (True, False):
            mode = "training" if training else "eval"
            cases.append(Case(f"{case.label}, {mode}", dict(case.values, training=training)))
    return cases


EXERCISE = Exercise("batch_norm", (
    Part("batch_norm_forward", _bn_forward_reference,
         arguments("x", "gamma", "beta", "running_mean", "running_var", "training", "momentum",
                   "eps"), outputs("y", "new_running_mean", "new_running_var"), (
             same_as("new_running_var", "the running variance takes the unbiased batch "
                                        "variance, var * M / (M - 1) with M = N*H*W",
                     lambda v: (1 - v["momentum"]) * v["running_var"]
                     + v["momentum"] * v["x"].var(axis=(0, 2, 3))),
             same_as("new_running_mean", CS231N_RUNNING_HINT,
                     lambda v: v["momentum"] * v["running_mean"]
                     + (1 - v["momentum"]) * v["x"].mean(axis=(0, 2, 3))),
             same_as("y", BN_AXES_HINT, lambda v: _bn_over_batch_only(v)),
             same_as("y", "in eval mode normalise with the running statistics, not the batch's",
                     lambda v: _bn(v, True)["y"]),
             same_as("y", "normalise with the batch statistics in training mode",
                     lambda v: _bn(v, False)["y"]),
         )),
    Part("batch_norm_backward", lambda v: dict(zip(("dx", "dgamma", "dbeta"), _bn_grads(v))),
         arguments("dout", "x", "gamma", "eps"), outputs("dx", "dgamma", "dbeta"), (
             same_as("dx", BN_AXES_HINT, lambda v: _bn_dx_over_batch_only(v)),
             same_as("dgamma", BN_AXES_HINT, lambda v: _bn_dx_over_batch_only(v, "dgamma")),
             same_as("dx", "missing the variance's chain term: var depends on every x, which "
                           "adds - xhat * mean(dout * xhat) inside the parentheses",
                     lambda v: _bn_dx_without(v, "variance")),
             same_as("dx", "missing the mean's chain term: the mean depends on every x, which "
                           "adds - mean(dout) inside the parentheses",
                     lambda v: _bn_dx_without(v, "mean")),
         ),
         Gradient(("x", "gamma", "beta"),
                  lambda v: forward(lambda x, g, b: F.batch_norm(
                      x, None, None, g, b, training=True, eps=v["eps"]),
                      v["x"], v["gamma"], v["beta"]),
                  lambda function, v, up: function(up, v["x"], v["gamma"], v["eps"])),
         when=lambda v: v["training"]),
), _bn_forward_cases)
