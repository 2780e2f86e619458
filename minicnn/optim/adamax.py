"""Adamax: Adam with the infinity norm in place of the second moment."""

from minicnn.autograd import no_grad
from minicnn.backend import get_array_module
from minicnn.backend.arrays import lerp_
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class Adamax(Optimizer):
    """torch.optim.Adamax (Kingma & Ba, 2015, section 7.1), PyTorch's single-tensor update at
    step t:

        g = g + weight_decay * param
        m = beta1 * m + (1 - beta1) * g                                   (exp_avg)
        u = max(beta2 * u, |g| + eps)                                     (exp_inf)
        param = param - lr / (1 - beta1^t) * m / u

    State per parameter: ``"step"``, ``"exp_avg"`` (m), ``"exp_inf"`` (u).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *,
                 maximize=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("eps", eps)
        check_hyperparameter("betas[0]", betas[0], high=1.0)
        check_hyperparameter("betas[1]", betas[1], high=1.0)
        check_hyperparameter("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for param in self._params_to_update(group):
                    state = self.state[param]
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = self._zeros_like(param)
                        state["exp_inf"] = self._zeros_like(param)
                    state["step"] += 1
                    p, m, u = param.array, state["exp_avg"].array, state["exp_inf"].array
                    xp, scalar = get_array_module(p), p.dtype.type
                    g = self._gradient(param, group)
                    lerp_(m, g, scalar(1 - beta1))
                    u *= scalar(beta2)
                    xp.maximum(u, xp.abs(g) + scalar(group["eps"]), out=u)
                    clr = group["lr"] / (1 - beta1 ** state["step"])
                    p += scalar(-clr) * m / u
        return loss
