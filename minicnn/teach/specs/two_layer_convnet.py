"""What ``minicnn check`` runs for exercise two_layer_convnet (one training step of a small conv
net, forward and backward by hand): the cases, the reference (minicnn's own ops, never the
solution) and the mistakes it recognises. The skeleton is
``minicnn/teach/exercises/two_layer_convnet.py``, the solution (source tree only)
``minicnn/teach/solutions/two_layer_convnet.py``."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.teach.checker import (Case, Exercise, Gradient, Mistake, Part, arguments, same_as,
                                   scaled)
from minicnn.teach.specs._shared import forward, with_grads


PARAMS = ("conv.weight", "conv.bias", "fc.weight", "fc.bias")


def _net_cases(rng):
    cases = []
    for N, C, H, W, Fn, K in [(2, 1, 4, 4, 2, 3), (3, 2, 6, 4, 3, 4), (1, 3, 4, 6, 2, 5)]:
        params = {"conv.weight": rng.standard_normal((Fn, C, 3, 3)) * 0.5,
                  "conv.bias": rng.standard_normal(Fn) * 0.1,
                  "fc.weight": rng.standard_normal((K, Fn * H * W // 4)) * 0.5,
                  "fc.bias": rng.standard_normal(K) * 0.1}
        x = rng.standard_normal((N, C, H, W))
        # keep the ReLU and the max pool away from their kinks for the gradient check
        cases.append(Case(f"x {N}x{C}x{H}x{W}, {Fn} filters, {K} classes", {
            "params": params, "x": x, "labels": rng.integers(0, K, N), "lr": 0.1, **params}))
    return cases


def _net_loss(values, *arrays):
    params = dict(zip(PARAMS, arrays))
    h = F.max_pool2d(F.relu(F.conv2d(values["x"], params["conv.weight"], params["conv.bias"],
                                     padding=1)), 2)
    return F.cross_entropy(F.linear(F.flatten(h, 1), params["fc.weight"], params["fc.bias"]),
                           values["labels"])


def _net(values):
    x = mc.tensor(values["x"])
    loss, grads = with_grads(lambda *p: _net_loss(dict(values, x=x), *p),
                              [values["params"][name] for name in PARAMS], 1.0)
    result = {"loss": loss}
    result.update({f"grads[{name}]": g for name, g in zip(PARAMS, grads)})
    result.update({f"new_params[{name}]": values["params"][name] - values["lr"] * g
                   for name, g in zip(PARAMS, grads)})
    return result


def _unpack_step(result):
    if not isinstance(result, tuple) or len(result) != 3 or not all(
            isinstance(d, dict) for d in result[1:]):
        raise TypeError("expected (loss, grads dict, new_params dict)")
    loss, grads, new_params = result
    unpacked = {"loss": loss}
    unpacked.update({f"grads[{name}]": grads.get(name) for name in PARAMS})
    unpacked.update({f"new_params[{name}]": new_params.get(name) for name in PARAMS})
    return unpacked


def _net_grads_right_below(values, expected, got):
    right = lambda name: np.allclose(got[name], expected[name], rtol=1e-7, atol=1e-10)  # noqa
    return right("grads[fc.weight]") and right("grads[fc.bias]")


EXERCISE = Exercise("two_layer_convnet", (
    Part("train_step", _net, arguments("params", "x", "labels", "lr"), _unpack_step, (
        *(scaled(f"grads[{name}]", "forgot the 1/N of the mean loss in dlogits: every gradient "
                                   "comes out N times too large", lambda v: len(v["labels"]))
          for name in PARAMS),
        *(Mistake(f"grads[{name}]", "the fc gradients are right but this one is not: the "
                                    "error is below the linear layer (the max-pool routing, the "
                                    "ReLU mask dconv = dpool * [conv > 0], or the conv's "
                                    "gradient)", _net_grads_right_below)
          for name in PARAMS[:2]),
        *(same_as(f"new_params[{name}]", "SGD steps downhill: p = p - lr * dp",
                  lambda v, name=name: v["params"][name] + v["lr"] * _net(v)[f"grads[{name}]"])
          for name in PARAMS),
    ), Gradient(PARAMS, lambda v: forward(lambda x, *p: _net_loss(dict(v, x=x), *p), v["x"],
                                           *[v[n] for n in PARAMS]),
                lambda function, v, up: tuple(
                    function({n: v[n] for n in PARAMS}, v["x"], v["labels"], v["lr"])[1][n] * up
                    for n in PARAMS))),
), _net_cases, time_limit=120.0, allowed=("minicnn.teach.given",))
