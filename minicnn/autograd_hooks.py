"""Hooks on tensors and the rest of torch.autograd's small API, with PyTorch's names:
``Tensor.register_hook``, ``Tensor.retain_grad`` / ``retains_grad``,
``Tensor.register_post_accumulate_grad_hook``, ``minicnn.autograd.grad``, ``set_grad_enabled``
and ``inference_mode``.

The backward pass (``minicnn.autograd.run_backward``) calls the hooks; this module only keeps
them where it looks: a leaf's ``_grad_hooks`` (run before its ``.grad`` is accumulated), the
``output_hooks`` of the Function that made a non-leaf (run once its gradient is complete), a
leaf's ``_post_accumulate_grad_hooks``. A reader of the autograd core can skip this file.
"""

import weakref
from contextlib import ContextDecorator

from minicnn.autograd import (Tensor, _accumulate_leaf, _grad_mode, _set_grad_enabled,
                              is_grad_enabled, raw)


class RemovableHandle:
    """What a ``register_*hook`` call returns: ``remove()`` unregisters the hook."""

    def __init__(self, hooks, entry):
        self.hooks, self.entry = hooks, entry

    def remove(self):
        if self.entry in self.hooks:
            self.hooks.remove(self.entry)


def _append(owner, name, entry):
    """Add ``entry`` to the hook list ``owner.<name>`` (a shared empty tuple until the first)."""
    if name not in vars(owner):
        setattr(owner, name, [])
    getattr(owner, name).append(entry)
    return RemovableHandle(getattr(owner, name), entry)


def _on_arrays(hook, shape):
    """``hook(grad Tensor) -> Tensor or None`` as the backward pass calls it: on an array (or
    None, when no gradient reached the tensor), returning the array to use."""
    def call(grad):
        if grad is None:
            return None
        result = hook(Tensor(grad))
        if result is None:
            return grad
        result = raw(result)
        if tuple(result.shape) != shape:
            raise RuntimeError(f"hook '{getattr(hook, '__name__', hook)}' has changed the size "
                               f"of value: it returned shape {tuple(result.shape)}, expected "
                               f"{shape}")
        return result
    return call


def register_hook(self, hook):
    """``hook(grad) -> Tensor or None`` runs each time the gradient with respect to this tensor
    is computed; a returned tensor replaces the gradient (for a leaf, before it is added to
    ``.grad``). Returns a handle whose ``remove()`` unregisters it. Raises RuntimeError on a
    tensor that does not require grad. As ``torch.Tensor.register_hook``."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    call = _on_arrays(hook, self.shape)
    if self.grad_fn is None:
        return _append(self, "_grad_hooks", call)
    return _append(self.grad_fn, "output_hooks", (self._output_index, call))


def retain_grad(self):
    """Keep ``.grad`` of this non-leaf tensor after backward (summed over backward calls, as a
    leaf's); a no-op on a leaf. Raises RuntimeError on a tensor that does not require grad."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self.grad_fn is None or self.retains_grad:
        return
    tensor = weakref.ref(self)      # the graph must not keep the tensor alive

    def keep(grad):
        if grad is not None and tensor() is not None:
            _accumulate_leaf(tensor(), grad)
        return grad
    self.retains_grad = True
    _append(self.grad_fn, "output_hooks", (self._output_index, keep))


def register_post_accumulate_grad_hook(self, hook):
    """``hook(tensor)`` runs once per backward pass, as soon as this leaf's ``.grad`` holds
    every contribution of that pass (PyTorch's hook of the same name). Returns a handle whose
    ``remove()`` unregisters it. Raises RuntimeError on a non-leaf tensor."""
    if self.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    return _append(self, "_post_accumulate_grad_hooks", hook)


Tensor.register_hook = register_hook
Tensor.retain_grad = retain_grad
Tensor.retains_grad = False
Tensor.register_post_accumulate_grad_hook = register_post_accumulate_grad_hook


def _as_list(tensors, name):
    if isinstance(tensors, Tensor):
        return [tensors]
    tensors = list(tensors)
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"{name} must be a Tensor or a sequence of Tensors")
    return tensors


def _leaves(outputs):
    """Every leaf that requires grad in the graphs of ``outputs``."""
    found, seen = {}, set()
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    found.update((id(t), t) for t in outputs if t.grad_fn is None and t.requires_grad)
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for parent, _ in fn.next_functions:
            if isinstance(parent, Tensor):
                found[id(parent)] = parent
            elif parent is not None:
                stack.append(parent)
    return list(found.values())


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradients of ``outputs`` (weighted by ``grad_outputs``, ones for one-element outputs)
    with respect to ``inputs``, as a tuple, without touching any ``.grad``: as
    ``torch.autograd.grad``. ``retain_graph`` defaults to ``create_graph``.

    Raises RuntimeError for an input that does not require grad, or that the outputs do not
    depend on (unless ``allow_unused`` or ``materialize_grads``: then None, or zeros);
    NotImplementedError for ``create_graph=True``: minicnn's backward passes compute on arrays,
    outside the graph, so there is no gradient of a gradient.
    """
    if create_graph:
        raise NotImplementedError("create_graph=True (a gradient of a gradient) is not supported: "
                                  "minicnn's backward passes compute on arrays, outside the graph")
    outputs, inputs = _as_list(outputs, "outputs"), _as_list(inputs, "inputs")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad_outputs has {len(grad_outputs)} entries for {len(outputs)} "
                           "outputs")
    for index, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (input {index}) does not "
                               "require grad")
    captured = [None] * len(inputs)

    def capture(index):
        def hook(gradient):
            captured[index] = gradient if captured[index] is None else captured[index] + gradient
        return hook
    # .grad of every leaf is put back afterwards: the backward passes below must not change it
    leaves = [(leaf, leaf.grad, None if leaf.grad is None else leaf.grad.array)
              for leaf in _leaves(outputs)]
    hooked = [leaf for leaf, _, _ in leaves if leaf._post_accumulate_grad_hooks]
    post_hooks = [leaf._post_accumulate_grad_hooks for leaf in hooked]
    handles = [register_hook(tensor, capture(index)) for index, tensor in enumerate(inputs)]
    try:
        for leaf in hooked:
            leaf._post_accumulate_grad_hooks = ()
        for position, (output, seed) in enumerate(zip(outputs, grad_outputs)):
            last = position == len(outputs) - 1
            output.backward(seed, retain_graph=bool(retain_graph) if last else True)
    finally:
        for handle in handles:
            handle.remove()
        for leaf, hooks in zip(hooked, post_hooks):
            leaf._post_accumulate_grad_hooks = hooks
        for leaf, leaf_grad, array in leaves:
            leaf.grad = leaf_grad
            if leaf_grad is not None:
                leaf_grad.array = array
    results = []
    for tensor, gradient in zip(inputs, captured):
        if gradient is None and not (allow_unused or materialize_grads):
            raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                               "in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
        if gradient is None and materialize_grads:
            gradient = Tensor(tensor.array * 0)
        results.append(None if gradient is None else gradient.detach())
    return tuple(results)


class set_grad_enabled(ContextDecorator):
    """Turn gradient recording on or off (``mode``) in this thread: at once when called, and back
    to what it was when a ``with`` block (or a decorated function) ends. As
    ``torch.set_grad_enabled``."""

    def __init__(self, mode):
        self.previous = is_grad_enabled()
        _grad_mode.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _grad_mode.enabled = self.previous
        return False


def inference_mode(mode=True):
    """Context manager (or decorator): no graph is recorded inside, as ``no_grad``. PyTorch's
    inference mode also marks the tensors made inside as unusable by autograd later; minicnn
    does not, so such a tensor can still enter a graph (as one made under ``no_grad``)."""
    return _set_grad_enabled(not mode)
