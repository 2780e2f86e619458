"""What ``minicnn check`` runs for exercise batch_norm_1d (batch normalisation of a fully connected
layer's (N, D) output): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/batch_norm_1d.py``, the
solution (source tree only) ``minicnn/teach/solutions/batch_norm_1d.py``."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.teach.checker import Case, Exercise, Gradient, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import bn1d_op, forward, ln_op, with_grads


CS231N_RUNNING_HINT = ("the running average with CS231n's convention, momentum * running + "
                       "(1 - momentum) * batch (momentum 0.9 there): here, as in PyTorch, "
                       "momentum is the weight of the NEW batch: (1 - momentum) * running + "
                       "momentum * batch (momentum 0.1)")


def _bn1d_cases(rng):
    cases = []
    # N >= 3: with 2 samples xhat is +-1 whatever x is, and dx is 0 up to rounding
    for N, D in [(4, 3), (3, 5), (int(rng.integers(3, 7)), int(rng.integers(1, 5)))]:
        x = rng.standard_normal((N, D)) * rng.uniform(0.5, 3, D) + rng.standard_normal(D)
        base = {"x": x, "gamma": rng.uniform(0.5, 1.5, D), "beta": rng.standard_normal(D),
                "running_mean": rng.standard_normal(D) * 0.1,
                "running_var": rng.uniform(0.5, 2, D), "momentum": 0.1, "eps": 1e-5,
                "dout": rng.standard_normal((N, D))}
        for training in (True, False):
            mode = "training" if training else "eval"
            cases.append(Case(f"x {N}x{D}, {mode}", dict(base, training=training)))
    return cases


def _bn1d(values):
    mean, var = mc.tensor(values["running_mean"].copy()), mc.tensor(values["running_var"].copy())
    out = forward(lambda x, g, b: F.batch_norm(x, mean, var, g, b, training=values["training"],
                                                momentum=values["momentum"], eps=values["eps"]),
                   values["x"], values["gamma"], values["beta"])
    return {"out": out, "new_running_mean": mean.numpy(), "new_running_var": var.numpy()}


def _bn1d_grads(values):
    _, grads = with_grads(bn1d_op(values), [values["x"], values["gamma"], values["beta"]],
                           values["dout"])
    return dict(zip(("dx", "dgamma", "dbeta"), grads))


def _bn1d_dx_without(values, term):
    x, dout, eps = values["x"], values["dout"], values["eps"]
    invstd = 1 / np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) * invstd
    kept = {"mean": xhat * (dout * xhat).mean(axis=0), "variance": dout.mean(axis=0)}[term]
    return values["gamma"] * invstd * (dout - kept)


BN1D_BACKWARD_MISTAKES = (
    same_as("dx", "missing the variance's path: var depends on every x of the feature, which "
                  "adds - xhat * mean(dout * xhat) (times gamma / std) to dx",
            lambda v: _bn1d_dx_without(v, "variance")),
    same_as("dx", "missing the mean's path: the mean depends on every x of the feature, which "
                  "adds - mean(dout) (times gamma / std) to dx",
            lambda v: _bn1d_dx_without(v, "mean")),
    same_as("dx", "forgot gamma: out = gamma * xhat + beta, so dxhat = dout * gamma",
            lambda v: _bn1d_grads(dict(v, gamma=np.ones_like(v["gamma"])))["dx"]),
)


def _bn1d_backward_part(name):
    return Part(name, _bn1d_grads, arguments("dout", "x", "gamma", "eps"),
                outputs("dx", "dgamma", "dbeta"), BN1D_BACKWARD_MISTAKES,
                Gradient(("x", "gamma", "beta"),
                         lambda v: forward(bn1d_op(v), v["x"], v["gamma"], v["beta"]),
                         lambda function, v, up: function(up, v["x"], v["gamma"], v["eps"])),
                when=lambda v: v["training"])


EXERCISE = Exercise("batch_norm_1d", (
    Part("batchnorm_forward", _bn1d,
         arguments("x", "gamma", "beta", "running_mean", "running_var", "training", "momentum",
                   "eps"), outputs("out", "new_running_mean", "new_running_var"), (
             same_as("new_running_mean", CS231N_RUNNING_HINT,
                     lambda v: v["momentum"] * v["running_mean"]
                     + (1 - v["momentum"]) * v["x"].mean(axis=0)),
             same_as("new_running_var", "the running variance takes the unbiased batch "
                                        "variance, var * N / (N - 1)",
                     lambda v: (1 - v["momentum"]) * v["running_var"]
                     + v["momentum"] * v["x"].var(axis=0)),
             same_as("out", "statistics over axis 1 (each sample's features): batch norm takes "
                            "each FEATURE's mean and variance over the batch, axis 0 (that "
                            "other one is layer norm)",
                     lambda v: forward(lambda x, g, b: ln_op(x, g, b, v["eps"]),
                                        v["x"], v["gamma"], v["beta"])),
             same_as("out", "in eval mode normalise with the running statistics, not the "
                            "batch's", lambda v: _bn1d(dict(v, training=True))["out"]),
         )),
    _bn1d_backward_part("batchnorm_backward"),
    _bn1d_backward_part("batchnorm_backward_alt"),
), _bn1d_cases)
