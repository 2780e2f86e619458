"""RAdam: Adam with the variance of its adaptive step size rectified."""

import math

from minicnn.autograd import no_grad
from minicnn.backend import get_array_module
from minicnn.backend.arrays import fma, lerp_
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class RAdam(Optimizer):
    """torch.optim.RAdam (Liu et al., 2020), PyTorch's single-tensor update at step t:

        g = g + weight_decay * param        (decoupled_weight_decay: param *= 1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g ;  v = beta2 * v + (1 - beta2) * g^2
        rho_inf = 2 / (1 - beta2) - 1 ;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                       param = param - m / (1 - beta1^t) * lr * sqrt(1 - beta2^t)
                                       / (sqrt(v) + eps) * r
        else:          param = param - m / (1 - beta1^t) * lr           (plain momentum SGD)

    State per parameter: ``"step"``, ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, maximize=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("eps", eps)
        check_hyperparameter("betas[0]", betas[0], high=1.0)
        check_hyperparameter("betas[1]", betas[1], high=1.0)
        check_hyperparameter("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                lr = group["lr"]
                for param in self._params_to_update(group):
                    state = self.state[param]
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = self._zeros_like(param)
                        state["exp_avg_sq"] = self._zeros_like(param)
                    state["step"] += 1
                    t = state["step"]
                    p, m, v = param.array, state["exp_avg"].array, state["exp_avg_sq"].array
                    xp, scalar = get_array_module(p), p.dtype.type
                    g = self._gradient(param, group)
                    lerp_(m, g, scalar(1 - beta1))
                    v *= scalar(beta2)
                    v[...] = fma(scalar(1 - beta2) * g, g, v)
                    bias_correction2 = 1 - beta2 ** t
                    update = m / scalar(1 - beta1 ** t) * scalar(lr)
                    rho_inf = 2 / (1 - beta2) - 1
                    rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
                    if rho_t > 5.0:
                        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                                         / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                        adaptive_lr = scalar(bias_correction2 ** 0.5) / (xp.sqrt(v)
                                                                         + scalar(group["eps"]))
                        update = update * adaptive_lr * scalar(rect)
                    p -= update
        return loss
