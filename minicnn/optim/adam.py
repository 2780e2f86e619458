"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from minicnn.autograd import no_grad
from minicnn.backend import kernels_for
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class Adam(Optimizer):
    """torch.optim.Adam (Kingma & Ba, 2015): for each parameter with a gradient g, at step t
    (the math is ``backend.reference.adam_step``):

        g = g + weight_decay * param          (decoupled_weight_decay: param *= 1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2     (amsgrad: v_max = max(v_max, v) is used below)
        param = param - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    State per parameter: ``"step"``, ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v) and, with amsgrad,
    ``"max_exp_avg_sq"``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("eps", eps)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        check_hyperparameter("betas[0]", betas[0], high=1.0)
        check_hyperparameter("betas[1]", betas[1], high=1.0)
        check_hyperparameter("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                amsgrad = group["amsgrad"]
                for param in self._params_to_update(group):
                    state = self.state[param]
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = self._zeros_like(param)
                        state["exp_avg_sq"] = self._zeros_like(param)
                    if amsgrad and "max_exp_avg_sq" not in state:
                        state["max_exp_avg_sq"] = self._zeros_like(param)
                    state["step"] += 1
                    kernels_for(param.array).adam_step(
                        param.array, param.grad.array, state["exp_avg"].array,
                        state["exp_avg_sq"].array,
                        state["max_exp_avg_sq"].array if amsgrad else None,
                        state["step"], group["lr"], beta1, beta2, group["eps"],
                        group["weight_decay"], group["decoupled_weight_decay"], amsgrad,
                        group["maximize"])
        return loss


class AdamW(Adam):
    """torch.optim.AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay,
    ``param *= 1 - lr * weight_decay`` before the Adam update, and weight_decay 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
