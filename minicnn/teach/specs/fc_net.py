"""What ``minicnn check`` runs for exercise fc_net (the loss and gradients of a fully connected net
of any depth, with dropout): the cases, the reference (minicnn's own ops, never the solution)
and the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/fc_net.py``, the
solution (source tree only) ``minicnn/teach/solutions/fc_net.py``."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.autograd import Tensor
from minicnn.teach.checker import (Case, Exercise, Gradient, Mistake, Part, arguments, close,
                                   same_as)
from minicnn.teach.specs._shared import forward, with_grads


def _fc_cases(rng):
    cases = []
    for N, D, hidden, K, reg, normalization, p in [
            (3, 5, [4], 3, 0.0, None, None), (4, 6, [5, 3], 4, 0.3, None, 0.5),
            (5, 4, [6, 4, 3], 3, 0.1, "batchnorm", None), (4, 5, [4, 3], 5, 0.2, "batchnorm", 0.3)]:
        dims = [D, *hidden, K]
        params = {}
        for l in range(1, len(dims)):
            params[f"W{l}"] = rng.standard_normal((dims[l - 1], dims[l])) / np.sqrt(dims[l - 1])
            if not normalization or l == len(dims) - 1:     # a bias before batch norm is void
                params[f"b{l}"] = rng.standard_normal(dims[l]) * 0.1
        if normalization:
            for l in range(1, len(dims) - 1):
                params[f"gamma{l}"] = rng.uniform(0.5, 1.5, dims[l])
                params[f"beta{l}"] = rng.standard_normal(dims[l]) * 0.1
        masks = None if p is None else [(rng.random((N, h)) < 1 - p) / (1 - p) for h in hidden]
        label = (f"{N} samples, layers {'-'.join(map(str, dims))}, reg {reg}"
                 + (", batch norm" if normalization else "") + (f", dropout {p}" if p else ""))
        cases.append(Case(label, {"params": params, "x": rng.standard_normal((N, D)),
                                  "labels": rng.integers(0, K, N), "reg": reg,
                                  "normalization": normalization, "dropout_masks": masks,
                                  "eps": 1e-5, **params}))
    return cases


def fc_names(values):
    return tuple(values["params"])


def fc_loss(values, tensors):
    """The loss as a minicnn tensor, from tensors of the parameters (by name)."""
    L = sum(1 for key in tensors if key.startswith("W"))
    h = mc.tensor(values["x"])
    for l in range(1, L):
        a = h @ tensors[f"W{l}"]
        if values["normalization"] == "batchnorm":
            a = F.batch_norm(a, None, None, tensors[f"gamma{l}"], tensors[f"beta{l}"],
                             training=True, eps=values["eps"])
        else:
            a = a + tensors[f"b{l}"]
        h = F.relu(a)
        if values["dropout_masks"] is not None:
            h = h * Tensor(values["dropout_masks"][l - 1])
    loss = F.cross_entropy(h @ tensors[f"W{L}"] + tensors[f"b{L}"], values["labels"])
    for l in range(1, L + 1):
        loss = loss + 0.5 * values["reg"] * (tensors[f"W{l}"] ** 2).sum()
    return loss


def fc_reference(values, reg=None):
    values = dict(values, reg=values["reg"] if reg is None else reg)
    names = fc_names(values)
    loss, grads = with_grads(lambda *t: fc_loss(values, dict(zip(names, t))),
                              [values["params"][n] for n in names], 1.0)
    return {"loss": loss, **{f"grads[{n}]": g for n, g in zip(names, grads)}}


def unpack_loss_grads(result):
    if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], dict):
        raise TypeError("expected (loss, grads dict)")
    return {"loss": result[0], **{f"grads[{k}]": v for k, v in result[1].items()}}


def reg_mistake(factor, hint, reference=None):
    """dW with the regularisation gradient reg * W times ``factor`` (0: left out), for the
    net whose reference is ``reference(values)`` (default the fully connected net)."""
    def test(values, expected, got):
        if values["reg"] == 0:
            return False
        data = (reference or fc_reference)(dict(values, reg=0.0))
        return any(close(got.get(f"grads[{n}]"), data[f"grads[{n}]"] + factor * values["reg"]
                         * values["params"][n]) for n in values["params"] if n.startswith("W"))
    return [Mistake(f"grads[W{l}]", hint, test) for l in range(1, 5)]


EXERCISE = Exercise("fc_net", (
    Part("fc_net_loss", fc_reference,
         arguments("params", "x", "labels", "reg", "normalization", "dropout_masks", "eps"),
         unpack_loss_grads, (
             *reg_mistake(0.0, "the regulariser 0.5 * reg * sum(W^2) adds reg * W to each "
                                   "dW: the data gradient alone is not enough"),
             *reg_mistake(2.0, "the loss has 0.5 * reg * sum(W^2), whose gradient is reg * W "
                                   "(the 0.5 cancels the 2), not 2 * reg * W"),
             *(same_as(f"grads[b{l}]", "db sums over the batch; the 1/N is already inside "
                                       "dlogits",
                       lambda v, l=l: fc_reference(v)[f"grads[b{l}]"] / len(v["x"]))
               for l in range(1, 5)),
         ),
         Gradient(fc_names, lambda v: forward(
             lambda *t: fc_loss(v, dict(zip(fc_names(v), t))),
             *[v[n] for n in fc_names(v)]),
             lambda function, v, up: tuple(
                 function({n: v[n] for n in fc_names(v)}, v["x"], v["labels"], v["reg"],
                          v["normalization"], v["dropout_masks"], v["eps"])[1][n] * up
                 for n in fc_names(v)))),
), _fc_cases)
