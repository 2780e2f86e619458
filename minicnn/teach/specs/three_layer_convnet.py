"""What ``minicnn check`` runs for exercise three_layer_convnet (the loss and gradients of CS231n's
ThreeLayerConvNet): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/three_layer_convnet.py``, the
solution (source tree only) ``minicnn/teach/solutions/three_layer_convnet.py``."""

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.teach.checker import Case, Exercise, Gradient, Mistake, Part, arguments, close
from minicnn.teach.specs._shared import forward, with_grads
from minicnn.teach.specs.fc_net import reg_mistake, unpack_loss_grads


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
    loss, grads = with_grads(lambda *t: _tlc_loss(dict(values, x=x), dict(zip(TLC_PARAMS, t))),
                              [values["params"][n] for n in TLC_PARAMS], 1.0)
    return {"loss": loss, **{f"grads[{n}]": g for n, g in zip(TLC_PARAMS, grads)}}


def _tlc_grads_right_above(values, expected, got):
    """The last layer's gradients right, and the others not merely missing reg * W."""
    if values["reg"] and any(close(got.get(f"grads[{n}]"), _tlc(dict(values, reg=0.0))[
            f"grads[{n}]"]) for n in ("W1", "W2")):
        return False
    return all(close(got.get(f"grads[{n}]"), expected[f"grads[{n}]"]) for n in ("W3", "b3"))


EXERCISE = Exercise("three_layer_convnet", (
    Part("three_layer_convnet_loss", _tlc, arguments("params", "x", "labels", "reg"),
         unpack_loss_grads, (
             *reg_mistake(0.0, "the regulariser 0.5 * reg * sum(W^2) adds reg * W to each "
                                "dW: the data gradient alone is not enough", _tlc),
             *(Mistake(f"grads[{name}]", "the last affine layer's gradients are right but this "
                                         "one is not: the error is below it (the hidden ReLU's "
                                         "mask, the max-pool routing, the conv ReLU's mask or "
                                         "the conv's gradient)", _tlc_grads_right_above)
               for name in ("W1", "b1", "W2", "b2")),
         ),
         Gradient(TLC_PARAMS, lambda v: forward(
             lambda x, *t: _tlc_loss(dict(v, x=x), dict(zip(TLC_PARAMS, t))), v["x"],
             *[v[n] for n in TLC_PARAMS]),
             lambda function, v, up: tuple(
                 function({n: v[n] for n in TLC_PARAMS}, v["x"], v["labels"], v["reg"])[1][n]
                 * up for n in TLC_PARAMS))),
), _tlc_cases, time_limit=120.0, allowed=("minicnn.teach.given",))
