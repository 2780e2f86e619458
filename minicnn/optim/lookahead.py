"""Lookahead on a model's weights (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1
step back"), in the form airbench uses (Jordan 2024): every k optimizer steps the slow weights
move towards the fast ones, ``slow <- slow + alpha * (fast - slow)``, and the fast weights (the
model's) are reset to them. airbench lets alpha fall over the run (alpha = 1 - 0.95^5 (t/T)^3,
t the step, T the last) and at the end copies the slow weights into the model (``finish``).

    lookahead = Lookahead(model, k=5, alpha=lambda step: 1 - 0.95**5 * (step / total) ** 3)
    for images, labels in loader:
        ...; optimizer.step()
        lookahead.step()
    lookahead.finish()

The floating-point buffers (batch norm's running statistics) are treated as the parameters, as
airbench does; the optimizer's state (momentum) is left alone.
"""

import numpy as np

from minicnn.autograd import increment_version

__all__ = ["Lookahead"]


class Lookahead:
    """Slow weights for ``model``: ``step()`` after every optimizer step; every ``k``-th moves
    them by ``alpha`` (a number in [0, 1] or a function of the step count, 1, 2, ..., giving
    one) towards the model's weights and copies them into the model. ``finish()`` copies the
    slow weights into the model. ``state_dict()`` / ``load_state_dict()`` hold the step count
    and the slow weights (for checkpoints)."""

    def __init__(self, model, k=5, alpha=0.5):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"Lookahead: k must be a positive integer, got {k!r}")
        if not callable(alpha) and not 0 <= alpha <= 1:
            raise ValueError(f"Lookahead: alpha must be in [0, 1] or a function of the step, "
                             f"got {alpha!r}")
        self.k, self.alpha, self.steps = k, alpha, 0
        self.tensors = [tensor for tensor in list(model.parameters()) + list(model.buffers())
                        if np.issubdtype(tensor.dtype, np.floating)]
        self.slow = [tensor.array.copy() for tensor in self.tensors]

    def step(self):
        self.steps += 1
        if self.steps % self.k:
            return
        alpha = self.alpha(self.steps) if callable(self.alpha) else self.alpha
        if not 0 <= alpha <= 1:
            raise ValueError(f"Lookahead: alpha({self.steps}) = {alpha!r} is not in [0, 1]")
        for slow, tensor in zip(self.slow, self.tensors):
            slow += alpha * (tensor.array - slow)
        self.finish()

    def finish(self):
        """Copy the slow weights into the model."""
        for slow, tensor in zip(self.slow, self.tensors):
            tensor.array[...] = slow
            increment_version(tensor)

    def state_dict(self):
        return {"steps": self.steps, "slow": [slow.copy() for slow in self.slow]}

    def load_state_dict(self, state):
        slow = state["slow"]
        if len(slow) != len(self.slow) or any(np.shape(new) != old.shape
                                              for new, old in zip(slow, self.slow)):
            raise ValueError("Lookahead.load_state_dict: the slow weights do not match the "
                             "model's")
        self.steps = int(state["steps"])
        self.slow = [np.array(new, dtype=old.dtype) for new, old in zip(slow, self.slow)]
