"""What ``minicnn check`` runs for exercise adam_rmsprop (one step of RMSprop and of Adam, as
torch.optim.RMSprop and): the cases, the reference (minicnn's own ops, never the solution) and
the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/adam_rmsprop.py``, the
solution (source tree only) ``minicnn/teach/solutions/adam_rmsprop.py``."""

import numpy as np

from minicnn.backend import reference
from minicnn.teach.checker import Case, Exercise, Part, arguments, outputs, same_as


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


EXERCISE = Exercise("adam_rmsprop", (
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
