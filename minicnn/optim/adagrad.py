"""Adagrad: per-parameter step sizes from the sum of all past squared gradients."""

from minicnn.autograd import Tensor, no_grad
from minicnn.backend import get_array_module
from minicnn.backend.arrays import fma
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class Adagrad(Optimizer):
    """torch.optim.Adagrad (Duchi et al., 2011), PyTorch's single-tensor update at step t:

        g = g + weight_decay * param
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g                      (sum starts at initial_accumulator_value)
        param = param - clr * g / (sqrt(sum) + eps)

    State per parameter (created with the optimizer, as PyTorch): ``"step"``, ``"sum"``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        for name, value in (("lr", lr), ("lr_decay", lr_decay), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value),
                            ("eps", eps)):
            check_hyperparameter(name, value)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for param in group["params"]:
                xp = get_array_module(param.array)
                self.state[param] = {"step": 0, "sum": Tensor(xp.full_like(
                    param.array, group["initial_accumulator_value"]))}

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                for param in self._params_to_update(group):
                    state = self.state[param]
                    state["step"] += 1
                    p, total = param.array, state["sum"].array
                    xp, scalar = get_array_module(p), p.dtype.type
                    g = self._gradient(param, group)
                    clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                    total[...] = fma(g, g, total)
                    p += scalar(-clr) * g / (xp.sqrt(total) + scalar(group["eps"]))
        return loss
