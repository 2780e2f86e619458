"""NAdam: Adam with Nesterov momentum."""

import numpy as np

from minicnn.autograd import no_grad
from minicnn.backend import get_array_module
from minicnn.backend.arrays import fma, lerp_
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class NAdam(Optimizer):
    """torch.optim.NAdam (Dozat, 2016), PyTorch's single-tensor update at step t:

        g = g + weight_decay * param        (decoupled_weight_decay: param *= 1 - lr * wd)
        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))      (and mu_{t+1} alike)
        mu_product = mu_1 * ... * mu_t                  (kept in float32, as PyTorch keeps it)
        m = beta1 * m + (1 - beta1) * g ;  v = beta2 * v + (1 - beta2) * g^2
        d = sqrt(v / (1 - beta2^t)) + eps
        param = param - lr (1 - mu_t) / (1 - mu_product) * g / d
                      - lr mu_{t+1} / (1 - mu_product mu_{t+1}) * m / d

    State per parameter: ``"step"``, ``"mu_product"``, ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("eps", eps)
        check_hyperparameter("betas[0]", betas[0], high=1.0)
        check_hyperparameter("betas[1]", betas[1], high=1.0)
        check_hyperparameter("weight_decay", weight_decay)
        check_hyperparameter("momentum_decay", momentum_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                lr, decay = group["lr"], group["momentum_decay"]
                for param in self._params_to_update(group):
                    state = self.state[param]
                    if not state:
                        state["step"] = 0
                        state["mu_product"] = 1.0
                        state["exp_avg"] = self._zeros_like(param)
                        state["exp_avg_sq"] = self._zeros_like(param)
                    state["step"] += 1
                    t = state["step"]
                    p, m, v = param.array, state["exp_avg"].array, state["exp_avg_sq"].array
                    xp, scalar = get_array_module(p), p.dtype.type
                    g = self._gradient(param, group)
                    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * decay))
                    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * decay))
                    mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
                    state["mu_product"] = mu_product
                    lerp_(m, g, scalar(1 - beta1))
                    v *= scalar(beta2)
                    v[...] = fma(scalar(1 - beta2) * g, g, v)
                    denom = xp.sqrt(v / scalar(1 - beta2 ** t)) + scalar(group["eps"])
                    p += scalar(-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
                    p += scalar(-lr * mu_next / (1.0 - mu_product * mu_next)) * m / denom
        return loss
