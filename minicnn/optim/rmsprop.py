"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from minicnn.autograd import no_grad
from minicnn.backend import kernels_for
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class RMSprop(Optimizer):
    """torch.optim.RMSprop (Hinton's lecture 6e; centered as Graves, 2013): for each parameter
    with a gradient g (the math is ``backend.reference.rmsprop_step``):

        g = g + weight_decay * param
        s = alpha * s + (1 - alpha) * g^2
        d = sqrt(s) + eps, or centered: a = alpha * a + (1 - alpha) * g, d = sqrt(s - a^2) + eps
        param = param - lr * g / d, or with momentum: buf = momentum * buf + g / d,
                                                      param = param - lr * buf

    State per parameter: ``"step"``, ``"square_avg"`` (s), ``"momentum_buffer"`` (momentum > 0)
    and ``"grad_avg"`` (a, centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("eps", eps)
        check_hyperparameter("momentum", momentum)
        check_hyperparameter("weight_decay", weight_decay)
        check_hyperparameter("alpha", alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                momentum, centered = group["momentum"], group["centered"]
                for param in self._params_to_update(group):
                    state = self.state[param]
                    if not state:
                        state["step"] = 0
                        state["square_avg"] = self._zeros_like(param)
                    if momentum > 0 and "momentum_buffer" not in state:
                        state["momentum_buffer"] = self._zeros_like(param)
                    if centered and "grad_avg" not in state:
                        state["grad_avg"] = self._zeros_like(param)
                    state["step"] += 1
                    kernels_for(param.array).rmsprop_step(
                        param.array, param.grad.array, state["square_avg"].array,
                        state["grad_avg"].array if centered else None,
                        state["momentum_buffer"].array if momentum > 0 else None,
                        group["lr"], group["alpha"], group["eps"], group["weight_decay"],
                        momentum, centered, group["maximize"])
        return loss
