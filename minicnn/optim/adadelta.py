"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from minicnn.autograd import no_grad
from minicnn.backend import get_array_module
from minicnn.backend.arrays import fma
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class Adadelta(Optimizer):
    """torch.optim.Adadelta (Zeiler, 2012), PyTorch's single-tensor update:

        g = g + weight_decay * param
        v = rho * v + (1 - rho) * g^2                                   (square_avg)
        delta = sqrt(u + eps) / sqrt(v + eps) * g                        (u = acc_delta)
        u = rho * u + (1 - rho) * delta^2
        param = param - lr * delta

    State per parameter: ``"step"``, ``"square_avg"`` (v), ``"acc_delta"`` (u).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("rho", rho)
        if rho > 1.0:
            raise ValueError(f"Invalid rho value: {rho} (expected in [0.0, 1.0])")
        check_hyperparameter("eps", eps)
        check_hyperparameter("weight_decay", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                rho = group["rho"]
                for param in self._params_to_update(group):
                    state = self.state[param]
                    if not state:
                        state["step"] = 0
                        state["square_avg"] = self._zeros_like(param)
                        state["acc_delta"] = self._zeros_like(param)
                    state["step"] += 1
                    p, v, u = param.array, state["square_avg"].array, state["acc_delta"].array
                    xp, scalar = get_array_module(p), p.dtype.type
                    g = self._gradient(param, group)
                    eps = scalar(group["eps"])
                    v *= scalar(rho)
                    v[...] = fma(scalar(1 - rho) * g, g, v)
                    delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g
                    u *= scalar(rho)
                    u[...] = fma(scalar(1 - rho) * delta, delta, u)
                    p[...] = fma(delta, scalar(-group["lr"]), p)
        return loss
