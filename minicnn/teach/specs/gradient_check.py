"""What ``minicnn check`` runs for exercise gradient_check (the numerical gradient check itself):
the cases, the reference (minicnn's own ops, never the solution) and the mistakes it recognises.
The skeleton is ``minicnn/teach/exercises/gradient_check.py``, the solution (source tree only)
``minicnn/teach/solutions/gradient_check.py``."""

import numpy as np

from minicnn.teach.checker import (Case, Exercise, Mistake, Part, arguments, close, outputs,
                                   same_as, scaled)


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


EXERCISE = Exercise("gradient_check", (
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
