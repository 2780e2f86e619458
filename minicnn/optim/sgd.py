"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from minicnn.autograd import no_grad
from minicnn.backend import kernels_for
from minicnn.optim.optimizer import Optimizer, check_hyperparameter


class SGD(Optimizer):
    """torch.optim.SGD: for each parameter with a gradient g (the math is
    ``backend.reference.sgd_step``):

        g = g + weight_decay * param
        buf = g on the first step, then buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) or g = buf          (when momentum != 0)
        param = param - lr * g

    ``maximize`` ascends instead. State per parameter: ``"momentum_buffer"`` (with momentum).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        check_hyperparameter("lr", lr)
        check_hyperparameter("momentum", momentum)
        check_hyperparameter("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                momentum = group["momentum"]
                for param in self._params_to_update(group):
                    buffer, first_step = None, False
                    if momentum != 0:
                        state = self.state[param]
                        first_step = state.get("momentum_buffer") is None
                        if first_step:
                            state["momentum_buffer"] = self._zeros_like(param)
                        buffer = state["momentum_buffer"].array
                    kernels_for(param.array).sgd_step(
                        param.array, param.grad.array, buffer, group["lr"], momentum,
                        group["dampening"], group["weight_decay"], group["nesterov"],
                        group["maximize"], first_step)
        return loss
