"""What ``minicnn check`` runs for exercise sgd_momentum (one step of SGD with momentum and weight
decay, as torch.optim.SGD): the cases, the reference (minicnn's own ops, never the solution) and
the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/sgd_momentum.py``, the
solution (source tree only) ``minicnn/teach/solutions/sgd_momentum.py``."""

from minicnn.backend import reference
from minicnn.teach.checker import Case, Exercise, Part, arguments, outputs, same_as


def _sgd_cases(rng):
    cases = []
    for shape, lr, momentum, decay in [((3,), 0.1, 0.9, 0.0), ((4, 5), 0.05, 0.9, 5e-4),
                                       ((2, 3, 3), 0.5, 0.5, 0.1)]:
        cases.append(Case(f"w {'x'.join(map(str, shape))}, lr {lr}, momentum {momentum}, "
                          f"weight_decay {decay}", {
                              "w": rng.standard_normal(shape), "dw": rng.standard_normal(shape),
                              "velocity": rng.standard_normal(shape), "lr": lr,
                              "momentum": momentum, "weight_decay": decay}))
    return cases


def _sgd(values, weight_decay=None):
    w, velocity = values["w"].copy(), values["velocity"].copy()
    decay = values["weight_decay"] if weight_decay is None else weight_decay
    reference.sgd_step(w, values["dw"], velocity, values["lr"], values["momentum"], 0.0, decay,
                       False, False, first_step=False)
    return {"new_w": w, "new_velocity": velocity}


EXERCISE = Exercise("sgd_momentum", (
    Part("sgd_momentum", _sgd, arguments("w", "dw", "velocity", "lr", "momentum", "weight_decay"),
         outputs("new_w", "new_velocity"), (
             same_as("new_velocity", "PyTorch's velocity is v = momentum * v + g and the step "
                                     "is w - lr * v (CS231n's v = mu * v - lr * dw is another "
                                     "quantity)", lambda v: v["momentum"] * v["velocity"]
                     - v["lr"] * (v["dw"] + v["weight_decay"] * v["w"])),
             same_as("new_w", "weight decay: g = dw + weight_decay * w, before the momentum",
                     lambda v: _sgd(v, weight_decay=0.0)["new_w"]),
             same_as("new_w", "step with the NEW velocity: w - lr * new_velocity",
                     lambda v: v["w"] - v["lr"] * v["velocity"]),
         )),
), _sgd_cases)
