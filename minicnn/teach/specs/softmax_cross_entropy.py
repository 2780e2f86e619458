"""What ``minicnn check`` runs for exercise softmax_cross_entropy (the loss of a classifier and its
gradient, fused): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/softmax_cross_entropy.py``,
the solution (source tree only) ``minicnn/teach/solutions/softmax_cross_entropy.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import (Case, Exercise, Gradient, Mistake, Part, arguments, close,
                                   outputs, scaled)
from minicnn.teach.specs._shared import forward, with_grads


def _ce_cases(rng):
    cases = []
    for N, K, spread in [(1, 3, 1.0), (4, 5, 3.0), (3, 10, 1000.0), (int(rng.integers(2, 6)),
                                                                     int(rng.integers(2, 8)), 2.0)]:
        label = f"{N} samples, {K} classes" + (", logits ~ 1000 (exp overflows)"
                                                if spread > 100 else "")
        cases.append(Case(label, {"logits": rng.standard_normal((N, K)) * spread,
                                  "labels": rng.integers(0, K, N)}))
    return cases


UNDERFLOW_HINT = ("-log(p) is inf: with logits near 1000 the right class's p underflows to 0 "
                  "even after subtracting the max, and log(0) = -inf. Compute log p directly, "
                  "as log-softmax: log_p = z - max(z) - log(sum(exp(z - max(z)))), never "
                  "log(softmax(z))")


def _ce(values):
    loss, (grad,) = with_grads(lambda z: F.cross_entropy(z, values["labels"]),
                                [values["logits"]], 1.0)
    return {"loss": loss, "dlogits": grad}


EXERCISE = Exercise("softmax_cross_entropy", (
    Part("softmax_cross_entropy", _ce, arguments("logits", "labels"), outputs("loss", "dlogits"), (
        scaled("dlogits", "forgot the 1/N: the loss is the mean over the batch, so each row of "
                          "dlogits carries 1/N", lambda v: len(v["labels"])),
        scaled("loss", "the loss is the MEAN over the batch, not the sum",
               lambda v: len(v["labels"])),
        Mistake("loss", "exp overflowed: subtract each row's max before exp (log-sum-exp); "
                        "the result does not change", lambda v, e, g: not np.isfinite(
                            np.asarray(g["loss"], dtype=np.float64)).all()
                and not close(g["dlogits"], e["dlogits"])),
        Mistake("loss", UNDERFLOW_HINT, lambda v, e, g: np.isposinf(
            np.asarray(g["loss"], dtype=np.float64)).all() and close(g["dlogits"], e["dlogits"])),
        Mistake("dlogits", "exp overflowed: subtract each row's max before exp",
                lambda v, e, g: not np.all(np.isfinite(np.asarray(g["dlogits"],
                                                                  dtype=np.float64)))),
    ), Gradient(("logits",), lambda v: forward(lambda z: F.cross_entropy(z, v["labels"]),
                                                v["logits"]),
                lambda function, v, up: (function(v["logits"], v["labels"])[1] * up,))),
), _ce_cases)
