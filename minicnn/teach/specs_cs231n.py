"""The checker's side of the exercises that complete CS231n's assignment 2: the affine layer and
the ReLU, a fully connected net of any depth, batch norm on (N, D), layer norm, group norm,
RMSprop and Adam, and the numerical gradient check itself. References are minicnn's autograd
and optimizer steps, never the exercise solutions."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.autograd import Tensor
from minicnn.backend import reference
from minicnn.teach.checker import (Case, Exercise, Gradient, Mistake, Part, arguments, close,
                                   outputs, same_as, scaled)
from minicnn.teach.specs import BN_AXES_HINT, CS231N_RUNNING_HINT, _forward, _with_grads


def _away_from_zero(rng, shape, low=0.1):
    """Values with |v| >= low: no ReLU kink within a gradient check's reach."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, 2.0, shape)


# ----- affine and ReLU ---------------------------------------------------------------------

def _affine_cases(rng):
    cases = []
    for shape, M in [((2, 3), 4), ((3, 2, 4), 5), ((4, 2, 2, 3), 3),
                     ((int(rng.integers(1, 5)), int(rng.integers(2, 6))), int(rng.integers(1, 6)))]:
        D = int(np.prod(shape[1:]))
        cases.append(Case(f"x {'x'.join(map(str, shape))}, w {D}x{M}", {
            "x": rng.standard_normal(shape), "w": rng.standard_normal((D, M)),
            "b": rng.standard_normal(M), "dout": rng.standard_normal((shape[0], M)),
            "xr": _away_from_zero(rng, shape), "dr": rng.standard_normal(shape)}))
    return cases


def _affine_op(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def _affine_grads(values):
    _, grads = _with_grads(_affine_op, [values["x"], values["w"], values["b"]], values["dout"])
    return dict(zip(("dx", "dw", "db"), grads))


AFFINE_RELU = Exercise("affine_relu", (
    Part("affine_forward",
         lambda v: {"out": _forward(_affine_op, v["x"], v["w"], v["b"])},
         arguments("x", "w", "b"), outputs("out"), (
             same_as("out", "forgot the bias: out = x @ w + b",
                     lambda v: _forward(_affine_op, v["x"], v["w"], 0 * v["b"])),
         )),
    Part("affine_backward", _affine_grads, arguments("dout", "x", "w"),
         outputs("dx", "dw", "db"), (
             Mistake("dx", "dx must have x's shape (N, d_1, ..., d_k): reshape dout @ w.T back "
                           "to x.shape", lambda v, e, g: np.shape(g["dx"]) == (
                               v["x"].shape[0], int(np.prod(v["x"].shape[1:])))
                     and v["x"].ndim > 2),
             scaled("db", "db sums dout over the batch; it is not a mean (the loss's 1/N is "
                          "already in dout)", lambda v: 1 / len(v["x"])),
             scaled("dw", "dw sums over the batch; it is not a mean (the loss's 1/N is already "
                          "in dout)", lambda v: 1 / len(v["x"])),
         ),
         Gradient(("x", "w", "b"), lambda v: _forward(_affine_op, v["x"], v["w"], v["b"]),
                  lambda function, v, up: function(up, v["x"], v["w"]))),
    Part("relu_forward", lambda v: {"out": np.maximum(v["xr"], 0)},
         lambda v: {"x": v["xr"]}, outputs("out")),
    Part("relu_backward",
         lambda v: {"dx": _with_grads(F.relu, [v["xr"]], v["dr"])[1][0]},
         lambda v: {"dout": v["dr"], "x": v["xr"]}, outputs("dx"), (
             same_as("dx", "the ReLU's mask comes from its INPUT x (dx = dout where x > 0), not "
                           "from dout", lambda v: v["dr"] * (v["dr"] > 0)),
             same_as("dx", "multiply the mask by dout: dx = dout * (x > 0)",
                     lambda v: (v["xr"] > 0).astype(float)),
         ),
         Gradient(("xr",), lambda v: np.maximum(v["xr"], 0),
                  lambda function, v, up: (function(up, v["xr"]),))),
), _affine_cases)


# ----- a fully connected net ---------------------------------------------------------------

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


def _fc_names(values):
    return tuple(values["params"])


def _fc_loss(values, tensors):
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


def _fc(values, reg=None):
    values = dict(values, reg=values["reg"] if reg is None else reg)
    names = _fc_names(values)
    loss, grads = _with_grads(lambda *t: _fc_loss(values, dict(zip(names, t))),
                              [values["params"][n] for n in names], 1.0)
    return {"loss": loss, **{f"grads[{n}]": g for n, g in zip(names, grads)}}


def _unpack_loss_grads(result):
    if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], dict):
        raise TypeError("expected (loss, grads dict)")
    return {"loss": result[0], **{f"grads[{k}]": v for k, v in result[1].items()}}


def _reg_mistake(factor, hint, reference=None):
    """dW with the regularisation gradient reg * W times ``factor`` (0: left out), for the
    net whose reference is ``reference(values)`` (default the fully connected net)."""
    def test(values, expected, got):
        if values["reg"] == 0:
            return False
        data = (reference or _fc)(dict(values, reg=0.0))
        return any(close(got.get(f"grads[{n}]"), data[f"grads[{n}]"] + factor * values["reg"]
                         * values["params"][n]) for n in values["params"] if n.startswith("W"))
    return [Mistake(f"grads[W{l}]", hint, test) for l in range(1, 5)]


FC_NET = Exercise("fc_net", (
    Part("fc_net_loss", _fc,
         arguments("params", "x", "labels", "reg", "normalization", "dropout_masks", "eps"),
         _unpack_loss_grads, (
             *_reg_mistake(0.0, "the regulariser 0.5 * reg * sum(W^2) adds reg * W to each "
                                   "dW: the data gradient alone is not enough"),
             *_reg_mistake(2.0, "the loss has 0.5 * reg * sum(W^2), whose gradient is reg * W "
                                   "(the 0.5 cancels the 2), not 2 * reg * W"),
             *(same_as(f"grads[b{l}]", "db sums over the batch; the 1/N is already inside "
                                       "dlogits",
                       lambda v, l=l: _fc(v)[f"grads[b{l}]"] / len(v["x"]))
               for l in range(1, 5)),
         ),
         Gradient(_fc_names, lambda v: _forward(
             lambda *t: _fc_loss(v, dict(zip(_fc_names(v), t))),
             *[v[n] for n in _fc_names(v)]),
             lambda function, v, up: tuple(
                 function({n: v[n] for n in _fc_names(v)}, v["x"], v["labels"], v["reg"],
                          v["normalization"], v["dropout_masks"], v["eps"])[1][n] * up
                 for n in _fc_names(v)))),
), _fc_cases)


# ----- batch norm on (N, D), layer norm, group norm ----------------------------------------

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
    out = _forward(lambda x, g, b: F.batch_norm(x, mean, var, g, b, training=values["training"],
                                                momentum=values["momentum"], eps=values["eps"]),
                   values["x"], values["gamma"], values["beta"])
    return {"out": out, "new_running_mean": mean.numpy(), "new_running_var": var.numpy()}


def _bn1d_op(values):
    return lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=values["eps"])


def _bn1d_grads(values):
    _, grads = _with_grads(_bn1d_op(values), [values["x"], values["gamma"], values["beta"]],
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
                         lambda v: _forward(_bn1d_op(v), v["x"], v["gamma"], v["beta"]),
                         lambda function, v, up: function(up, v["x"], v["gamma"], v["eps"])),
                when=lambda v: v["training"])


BATCH_NORM_1D = Exercise("batch_norm_1d", (
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
                     lambda v: _forward(lambda x, g, b: _ln_op(x, g, b, v["eps"]),
                                        v["x"], v["gamma"], v["beta"])),
             same_as("out", "in eval mode normalise with the running statistics, not the "
                            "batch's", lambda v: _bn1d(dict(v, training=True))["out"]),
         )),
    _bn1d_backward_part("batchnorm_backward"),
    _bn1d_backward_part("batchnorm_backward_alt"),
), _bn1d_cases)


def _ln_cases(rng):
    cases = []
    # D >= 3: with 2 features xhat is +-1 whatever x is, and dx is 0 up to rounding
    for N, D in [(3, 4), (5, 3), (int(rng.integers(2, 6)), int(rng.integers(3, 7)))]:
        cases.append(Case(f"x {N}x{D}", {
            "x": rng.standard_normal((N, D)) * rng.uniform(0.5, 3, (N, 1))
            + rng.standard_normal((N, 1)), "gamma": rng.uniform(0.5, 1.5, D),
            "beta": rng.standard_normal(D), "eps": 1e-5, "dout": rng.standard_normal((N, D))}))
    return cases


def _ln_op(x, gamma, beta, eps):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return gamma * (x - mean) / (var + eps) ** 0.5 + beta


def _ln_grads(values):
    _, grads = _with_grads(lambda x, g, b: _ln_op(x, g, b, values["eps"]),
                           [values["x"], values["gamma"], values["beta"]], values["dout"])
    return dict(zip(("dx", "dgamma", "dbeta"), grads))


LAYER_NORM = Exercise("layer_norm", (
    Part("layernorm_forward", lambda v: {"out": _forward(
        lambda x, g, b: _ln_op(x, g, b, v["eps"]), v["x"], v["gamma"], v["beta"])},
         arguments("x", "gamma", "beta", "eps"), outputs("out"), (
             same_as("out", "statistics over axis 0 (the batch): layer norm normalises each "
                            "SAMPLE over its D features (axis=1, keepdims=True); over the "
                            "batch is batch norm",
                     lambda v: _forward(_bn1d_op(v), v["x"], v["gamma"], v["beta"])),
         )),
    Part("layernorm_backward", _ln_grads, arguments("dout", "x", "gamma", "eps"),
         outputs("dx", "dgamma", "dbeta"), (
             same_as("dgamma", "gamma is per feature, so dgamma sums over the batch (axis 0), "
                               "while the statistics are per sample (axis 1)",
                     lambda v: (v["dout"] * _ln_xhat(v)).sum(axis=1)),
             same_as("dx", "the mean and variance are per sample: in dx take the means of "
                           "dxhat and dxhat * xhat over axis 1 (each row), not axis 0",
                     lambda v: _ln_dx_over_batch(v)),
         ),
         Gradient(("x", "gamma", "beta"),
                  lambda v: _forward(lambda x, g, b: _ln_op(x, g, b, v["eps"]), v["x"],
                                     v["gamma"], v["beta"]),
                  lambda function, v, up: function(up, v["x"], v["gamma"], v["eps"]))),
), _ln_cases)


def _ln_xhat(values):
    x = values["x"]
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True)
                                                         + values["eps"])


def _ln_dx_over_batch(values):
    xhat = _ln_xhat(values)
    invstd = 1 / np.sqrt(values["x"].var(axis=1, keepdims=True) + values["eps"])
    dxhat = values["dout"] * values["gamma"]
    return invstd * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))


def _gn_cases(rng):
    cases = []
    for N, C, H, W, G in [(2, 4, 3, 3, 2), (1, 6, 2, 4, 3), (3, 6, 3, 2, 2), (2, 4, 2, 2, 4)]:
        cases.append(Case(f"x {N}x{C}x{H}x{W}, {G} groups", {
            "x": rng.standard_normal((N, C, H, W)) * rng.uniform(0.5, 3, (1, C, 1, 1))
            + rng.standard_normal((1, C, 1, 1)), "gamma": rng.uniform(0.5, 1.5, C),
            "beta": rng.standard_normal(C), "G": G, "eps": 1e-5,
            "dout": rng.standard_normal((N, C, H, W))}))
    return cases


def _gn_op(values, interleaved=False):
    G, eps = values["G"], values["eps"]

    def op(x, gamma, beta):
        N, C, H, W = x.shape
        if interleaved:          # the mistake: channel c in group c % G
            x = x.reshape(N, C // G, G, H, W).permute(0, 2, 1, 3, 4)
        groups = x.reshape(N, G, -1)
        mean = groups.mean(axis=2, keepdims=True)
        var = ((groups - mean) ** 2).mean(axis=2, keepdims=True)
        xhat = (groups - mean) / (var + eps) ** 0.5
        if interleaved:
            xhat = xhat.reshape(N, G, C // G, H, W).permute(0, 2, 1, 3, 4)
        return gamma.reshape(1, C, 1, 1) * xhat.reshape(N, C, H, W) + beta.reshape(1, C, 1, 1)
    return op


def _gn_grads(values):
    _, grads = _with_grads(_gn_op(values), [values["x"], values["gamma"], values["beta"]],
                           values["dout"])
    return dict(zip(("dx", "dgamma", "dbeta"), grads))


GROUP_NORM = Exercise("group_norm", (
    Part("spatial_groupnorm_forward",
         lambda v: {"out": _forward(_gn_op(v), v["x"], v["gamma"], v["beta"])},
         arguments("x", "gamma", "beta", "G", "eps"), outputs("out"), (
             same_as("out", "a group is C // G CONSECUTIVE channels (x.reshape(N, G, -1)), not "
                            "every G-th channel",
                     lambda v: _forward(_gn_op(v, interleaved=True), v["x"], v["gamma"],
                                        v["beta"])),
             same_as("out", BN_AXES_HINT.split(":")[0] + ": group norm takes its statistics per "
                            "SAMPLE and group, over the group's channels and pixels, never "
                            "across the batch",
                     lambda v: _forward(lambda x, g, b: F.batch_norm(
                         x, None, None, g, b, training=True, eps=v["eps"]),
                         v["x"], v["gamma"], v["beta"])),
         )),
    Part("spatial_groupnorm_backward", _gn_grads, arguments("dout", "x", "gamma", "G", "eps"),
         outputs("dx", "dgamma", "dbeta"), (
             same_as("dgamma", "dgamma sums dout * xhat, the NORMALISED input, over N, H and "
                               "W: not dout * x",
                     lambda v: (v["dout"] * v["x"]).sum(axis=(0, 2, 3))),
             same_as("dx", "a group is C // G CONSECUTIVE channels, in the backward pass too",
                     lambda v: _with_grads(_gn_op(v, interleaved=True),
                                           [v["x"], v["gamma"], v["beta"]], v["dout"])[1][0]),
         ),
         Gradient(("x", "gamma", "beta"),
                  lambda v: _forward(_gn_op(v), v["x"], v["gamma"], v["beta"]),
                  lambda function, v, up: function(up, v["x"], v["gamma"], v["G"], v["eps"]))),
), _gn_cases)


# ----- RMSprop and Adam --------------------------------------------------------------------

def _optim_cases(rng):
    cases = []
    # the last case's gradients are tiny (1e-4), so that eps = 1e-8 matters next to sqrt(v)
    for shape, t, scale in [((3,), 1, 1.0), ((4, 5), 2, 1.0), ((2, 3, 3), 10, 1.0),
                            ((5,), 3, 1e-4)]:
        cases.append(Case(f"w {'x'.join(map(str, shape))}, step {t}"
                          + (f", gradients ~ {scale:g}" if scale != 1 else ""), {
            "w": rng.standard_normal(shape), "dw": rng.standard_normal(shape) * scale,
            "cache": rng.uniform(0.1, 1.0, shape) * (t > 1) * scale ** 2,
            "m": rng.standard_normal(shape) * 0.1 * (t > 1) * scale,
            "v": rng.uniform(0.1, 1.0, shape) * (t > 1) * scale ** 2, "t": t,
            "lr": 1e-2, "decay_rate": 0.99, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}))
    return cases


def _rmsprop(values):
    w, cache = values["w"].copy(), values["cache"].copy()
    reference.rmsprop_step(w, values["dw"], cache, None, None, values["lr"],
                           values["decay_rate"], values["eps"], 0.0, 0.0, False, False)
    return {"new_w": w, "new_cache": cache}


def _adam(values):
    w, m, v = values["w"].copy(), values["m"].copy(), values["v"].copy()
    reference.adam_step(w, values["dw"], m, v, None, values["t"], values["lr"], values["beta1"],
                        values["beta2"], values["eps"], 0.0, False, False, False)
    return {"new_w": w, "new_m": m, "new_v": v}


def _adam_without_correction(values):
    result = _adam(values)
    return values["w"] - values["lr"] * result["new_m"] / (np.sqrt(result["new_v"])
                                                            + values["eps"])


ADAM_RMSPROP = Exercise("adam_rmsprop", (
    Part("rmsprop", _rmsprop, arguments("w", "dw", "cache", "lr", "decay_rate", "eps"),
         outputs("new_w", "new_cache"), (
             same_as("new_cache", "the cache averages the SQUARED gradients: (1 - decay_rate) "
                                  "* dw**2", lambda v: v["decay_rate"] * v["cache"]
                     + (1 - v["decay_rate"]) * v["dw"]),
             same_as("new_cache", "decay_rate weighs the OLD cache: decay_rate * cache + "
                                  "(1 - decay_rate) * dw**2",
                     lambda v: (1 - v["decay_rate"]) * v["cache"]
                     + v["decay_rate"] * v["dw"] ** 2),
             same_as("new_w", "step with the NEW cache: w - lr * dw / (sqrt(new_cache) + eps)",
                     lambda v: v["w"] - v["lr"] * v["dw"] / (np.sqrt(v["cache"]) + v["eps"])),
         )),
    Part("adam", _adam, arguments("w", "dw", "m", "v", "t", "lr", "beta1", "beta2", "eps"),
         outputs("new_w", "new_m", "new_v"), (
             same_as("new_w", "forgot the bias correction: m and v start at 0, so divide them "
                              "by (1 - beta1**t) and (1 - beta2**t) before the step",
                     _adam_without_correction),
             same_as("new_w", "eps goes outside the square root: sqrt(v_hat) + eps",
                     lambda v: v["w"] - v["lr"] * (_adam(v)["new_m"] / (1 - v["beta1"] ** v["t"]))
                     / np.sqrt(_adam(v)["new_v"] / (1 - v["beta2"] ** v["t"]) + v["eps"])),
             same_as("new_v", "v averages the SQUARED gradients: (1 - beta2) * dw**2",
                     lambda v: v["beta2"] * v["v"] + (1 - v["beta2"]) * v["dw"]),
         )),
), _optim_cases)


# ----- the gradient check itself -----------------------------------------------------------

def _scalar_function(a):
    return lambda x: float(np.sum(a * x ** 3) + np.sum(np.sin(x)))


def _array_function(w):
    return lambda x: np.tanh(x.reshape(len(x), -1) @ w)


def _gc_cases(rng):
    cases = []
    for shape, M in [((3,), 2), ((2, 3), 4), ((2, 2, 3), 3)]:
        a = rng.standard_normal(shape)
        w = rng.standard_normal((int(np.prod(shape[1:])) if len(shape) > 1 else 1, M))
        x = rng.standard_normal(shape)
        x2 = x.reshape(shape[0], -1) if len(shape) > 1 else x.reshape(-1, 1)
        cases.append(Case(f"x {'x'.join(map(str, shape))}", {
            "f": _scalar_function(a), "a": a, "x": x, "h": 1e-5, "w": w, "x2": x2,
            "g": _array_function(w), "df": rng.standard_normal((x2.shape[0], M))}))
    return cases


def _central(values, one_sided=False):
    """The definition, element by element: (f(x + h) - f(x - h)) / 2h (or one-sided)."""
    f, x, h = values["f"], values["x"].copy(), values["h"]
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        plus = f(x)
        x[index] = old if one_sided else old - h
        minus = f(x)
        x[index] = old
        grad[index] = (plus - minus) / (h if one_sided else 2 * h)
    return grad


def _central_array(values):
    g, x, h, df = values["g"], values["x2"].copy(), values["h"], values["df"]
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        plus = np.array(g(x), dtype=np.float64)
        x[index] = old - h
        minus = np.array(g(x), dtype=np.float64)
        x[index] = old
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def _gc_exact(values):
    """The exact gradient of f: 3 a x^2 + cos x (for the hint of an inaccurate difference)."""
    return 3 * values["a"] * values["x"] ** 2 + np.cos(values["x"])


GRADIENT_CHECK = Exercise("gradient_check", (
    Part("eval_numerical_gradient", lambda v: {"grad": _central(v)}, arguments("f", "x", "h"),
         outputs("grad"), (
             same_as("grad", "a one-sided difference (f(x + h) - f(x)) / h has an O(h) error: "
                             "use the central difference (f(x + h) - f(x - h)) / 2h, O(h^2)",
                     lambda v: _central(v, one_sided=True)),
             scaled("grad", "the central difference divides by 2h, the distance between x - h "
                            "and x + h", lambda v: 2.0),
             Mistake("grad", "your gradient is close to the exact one but not to the central "
                             "difference: compute exactly (f(x + h) - f(x - h)) / 2h for each "
                             "element, in that order",
                     lambda v, e, g: np.allclose(g["grad"], _gc_exact(v), rtol=1e-6)),
         )),
    Part("eval_numerical_gradient_array", lambda v: {"grad": _central_array(v)},
         lambda v: {"f": v["g"], "x": v["x2"], "df": v["df"], "h": v["h"]}, outputs("grad"), (
             Mistake("grad", "weight the change of every output by df: the gradient of "
                             "sum(f(x) * df), i.e. np.sum((f(x + h) - f(x - h)) * df) / 2h",
                     lambda v, e, g: close(g["grad"], _central_array(
                         dict(v, df=np.ones_like(v["df"]))))),
         )),
), _gc_cases)


EXERCISES = {exercise.name: exercise for exercise in (
    AFFINE_RELU, FC_NET, BATCH_NORM_1D, LAYER_NORM, GROUP_NORM, ADAM_RMSPROP, GRADIENT_CHECK)}


# ----- the Solver: a training loop that overfits 50 images --------------------------------

def _two_layer_loss(params, X, y):
    """The checker's model: affine - ReLU - affine - softmax cross-entropy (mean over N)."""
    X = X.reshape(len(X), -1)
    hidden = X @ params["W1"] + params["b1"]
    relu = np.maximum(hidden, 0)
    scores = relu @ params["W2"] + params["b2"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(len(y)), y].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(len(y)), y] -= 1
    dscores /= len(y)
    drelu = dscores @ params["W2"].T * (hidden > 0)
    return float(loss), {"W1": X.T @ drelu, "b1": drelu.sum(axis=0), "W2": relu.T @ dscores,
                         "b2": dscores.sum(axis=0)}


def _two_layer_predict(params, X):
    return np.maximum(X.reshape(len(X), -1) @ params["W1"] + params["b1"], 0) @ params["W2"] \
        + params["b2"]


def _solver_cases(rng):
    D, H, K = 3 * 8 * 8, 100, 10
    params = {"W1": rng.standard_normal((D, H)) * np.sqrt(2 / D), "b1": np.zeros(H),
              "W2": rng.standard_normal((H, K)) * np.sqrt(1 / H), "b2": np.zeros(K)}
    return [Case("overfit 50 images (3x8x8, 10 classes), two-layer net, 15 epochs", {
        "loss_fn": _two_layer_loss, "predict": _two_layer_predict, "params": params,
        "X": rng.standard_normal((50, 3, 8, 8)), "y": rng.integers(0, K, 50),
        "X_val": rng.standard_normal((20, 3, 8, 8)), "y_val": rng.integers(0, K, 20),
        "num_epochs": 15, "batch_size": 25, "lr": 0.05, "momentum": 0.9, "seed": 7})]


def _solver(values, shuffle=True, fresh_rng=False, copy_best=True):
    """The reference loop: minicnn's SGD step (reference.sgd_step) on the checker's model."""
    params = {name: value.copy() for name, value in values["params"].items()}
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    rng = np.random.default_rng(values["seed"])
    X, y, n = values["X"], values["y"], len(values["X"])
    losses, train_acc, val_acc, best, best_acc = [], [], [], None, -1.0
    for epoch in range(values["num_epochs"]):
        if fresh_rng:
            rng = np.random.default_rng(values["seed"])
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, values["batch_size"]):
            batch = order[start:start + values["batch_size"]]
            loss, grads = _two_layer_loss(params, X[batch], y[batch])
            losses.append(loss)
            for name in params:
                reference.sgd_step(params[name], grads[name], velocity[name], values["lr"],
                                   values["momentum"], 0.0, 0.0, False, False,
                                   first_step=False)
        train_acc.append(float(np.mean(_two_layer_predict(params, X).argmax(1) == y)))
        val_acc.append(float(np.mean(_two_layer_predict(params, values["X_val"]).argmax(1)
                                     == values["y_val"])))
        if val_acc[-1] > best_acc:
            best_acc = val_acc[-1]
            best = params if not copy_best else {k: v.copy() for k, v in params.items()}
    result = {"loss_history": np.array(losses), "train_acc_history": np.array(train_acc),
              "val_acc_history": np.array(val_acc)}
    result.update({f"params[{k}]": v for k, v in params.items()})
    result.update({f"best_params[{k}]": v for k, v in best.items()})
    return result


def _unpack_solver(result):
    if not isinstance(result, tuple) or len(result) != 5 or not all(
            isinstance(d, dict) for d in result[:2]):
        raise TypeError("expected (params, best_params, loss_history, train_acc_history, "
                        "val_acc_history)")
    params, best, losses, train_acc, val_acc = result
    unpacked = {"loss_history": losses, "train_acc_history": train_acc,
                "val_acc_history": val_acc}
    unpacked.update({f"params[{k}]": v for k, v in params.items()})
    unpacked.update({f"best_params[{k}]": v for k, v in best.items()})
    return unpacked


def _overfits(values, got):
    """The course's sanity check: the final parameters classify all 50 images right."""
    from minicnn.teach.checker import Finding
    try:
        params = {k: np.asarray(got[f"params[{k}]"], dtype=np.float64) for k in values["params"]}
        accuracy = float(np.mean(_two_layer_predict(params, values["X"]).argmax(1)
                                 == values["y"]))
    except (KeyError, TypeError, ValueError) as error:
        return [Finding("overfit", False, [f"overfit: cannot use your params: {error}"])]
    return [Finding("overfit", accuracy == 1.0, [
        f"overfit: training accuracy of your final params {accuracy:.0%} "
        + ("(100%: the loop learns)" if accuracy == 1.0 else "(a right loop reaches 100%)")])]


SOLVER = Exercise("solver", (
    Part("accuracy", lambda v: {"accuracy": np.mean(
        _two_layer_predict(v["params"], v["X"]).argmax(1) == v["y"])},
         arguments("predict", "params", "X", "y"), outputs("accuracy"), (
             Mistake("accuracy", "the accuracy is a fraction in [0, 1] (the mean of the right "
                                 "predictions), not a count",
                     lambda v, e, g: close(g["accuracy"], e["accuracy"] * len(v["y"]))),
         )),
    Part("train", _solver,
         arguments("loss_fn", "predict", "params", "X", "y", "X_val", "y_val", "num_epochs",
                   "batch_size", "lr", "momentum", "seed"), _unpack_solver, (
             same_as("loss_history", "shuffle the training set every epoch: order = "
                                     "rng.permutation(N), minibatches X[order[i:i + "
                                     "batch_size]]", lambda v: _solver(v, shuffle=False)[
                                         "loss_history"]),
             same_as("loss_history", "make the rng ONCE, before the first epoch: a new "
                                     "default_rng(seed) each epoch repeats the same order",
                     lambda v: _solver(v, fresh_rng=True)["loss_history"]),
             *(same_as(f"best_params[{k}]", "keep a COPY of the best parameters: without "
                                            "it they change with every later step",
                       lambda v, k=k: _solver(v, copy_best=False)[f"best_params[{k}]"])
               for k in ("W1", "b1", "W2", "b2")),
         ), verify=_overfits),
), _solver_cases, time_limit=120.0)

EXERCISES["solver"] = SOLVER


# ----- CS231n's ThreeLayerConvNet ----------------------------------------------------------

TLC_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


def _tlc_cases(rng):
    cases = []
    for N, C, H, W, F_, k, hidden, K, reg in [(2, 1, 4, 4, 2, 3, 5, 3, 0.0),
                                              (3, 2, 6, 4, 3, 5, 4, 4, 0.1),
                                              (1, 3, 4, 6, 2, 3, 6, 5, 0.05)]:
        params = {"W1": rng.standard_normal((F_, C, k, k)) * 0.5, "b1": rng.standard_normal(F_)
                  * 0.1, "W2": rng.standard_normal((F_ * H * W // 4, hidden)) * 0.5,
                  "b2": rng.standard_normal(hidden) * 0.1,
                  "W3": rng.standard_normal((hidden, K)) * 0.5, "b3": rng.standard_normal(K) * 0.1}
        cases.append(Case(f"x {N}x{C}x{H}x{W}, {F_} filters {k}x{k}, {hidden} hidden, {K} "
                          f"classes, reg {reg}", {
                              "params": params, "x": rng.standard_normal((N, C, H, W)),
                              "labels": rng.integers(0, K, N), "reg": reg, **params}))
    return cases


def _tlc_loss(values, p):
    k = p["W1"].shape[2]
    h = F.max_pool2d(F.relu(F.conv2d(values["x"], p["W1"], p["b1"], padding=(k - 1) // 2)), 2)
    h = F.relu(F.flatten(h, 1) @ p["W2"] + p["b2"])
    loss = F.cross_entropy(h @ p["W3"] + p["b3"], values["labels"])
    for name in ("W1", "W2", "W3"):
        loss = loss + 0.5 * values["reg"] * (p[name] ** 2).sum()
    return loss


def _tlc(values):
    x = mc.tensor(values["x"])
    loss, grads = _with_grads(lambda *t: _tlc_loss(dict(values, x=x), dict(zip(TLC_PARAMS, t))),
                              [values["params"][n] for n in TLC_PARAMS], 1.0)
    return {"loss": loss, **{f"grads[{n}]": g for n, g in zip(TLC_PARAMS, grads)}}


def _tlc_grads_right_above(values, expected, got):
    """The last layer's gradients right, and the others not merely missing reg * W."""
    if values["reg"] and any(close(got.get(f"grads[{n}]"), _tlc(dict(values, reg=0.0))[
            f"grads[{n}]"]) for n in ("W1", "W2")):
        return False
    return all(close(got.get(f"grads[{n}]"), expected[f"grads[{n}]"]) for n in ("W3", "b3"))


THREE_LAYER_CONVNET = Exercise("three_layer_convnet", (
    Part("three_layer_convnet_loss", _tlc, arguments("params", "x", "labels", "reg"),
         _unpack_loss_grads, (
             *_reg_mistake(0.0, "the regulariser 0.5 * reg * sum(W^2) adds reg * W to each "
                                "dW: the data gradient alone is not enough", _tlc),
             *(Mistake(f"grads[{name}]", "the last affine layer's gradients are right but this "
                                         "one is not: the error is below it (the hidden ReLU's "
                                         "mask, the max-pool routing, the conv ReLU's mask or "
                                         "the conv's gradient)", _tlc_grads_right_above)
               for name in ("W1", "b1", "W2", "b2")),
         ),
         Gradient(TLC_PARAMS, lambda v: _forward(
             lambda x, *t: _tlc_loss(dict(v, x=x), dict(zip(TLC_PARAMS, t))), v["x"],
             *[v[n] for n in TLC_PARAMS]),
             lambda function, v, up: tuple(
                 function({n: v[n] for n in TLC_PARAMS}, v["x"], v["labels"], v["reg"])[1][n]
                 * up for n in TLC_PARAMS))),
), _tlc_cases, time_limit=120.0, allowed=("minicnn.teach.given",))

EXERCISES["three_layer_convnet"] = THREE_LAYER_CONVNET
