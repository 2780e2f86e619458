"""Reverse-mode automatic differentiation: Tensor, Function and the backward pass.

A Tensor wraps an array (NumPy, or CuPy on a GPU). Every differentiable operation is a
Function: its ``forward`` computes on raw arrays and saves what the gradient needs, its
``backward`` turns the gradient of the output into gradients of the inputs. Calling a Function
records it as the ``grad_fn`` of its output, so the graph is built as the program runs.

``Tensor.backward`` walks that graph once in reverse topological order (found iteratively, so a
chain of any length works), sums the gradients of a tensor used several times, and stores the
result in ``.grad`` of the leaves. A leaf's post-accumulate-grad hooks run as soon as its
``.grad`` is complete for this backward, while the rest of the graph is still to be walked
(data-parallel training starts communicating a gradient there).
"""

import threading
from collections import Counter
from contextlib import contextmanager

import numpy as np

from minicnn import backend
from minicnn.backend import get_array_module
from minicnn.device import device_of, onto_device_of, tensor_to

_grad_mode = threading.local()


def is_grad_enabled():
    return getattr(_grad_mode, "enabled", True)


@contextmanager
def _set_grad_enabled(enabled):
    previous = is_grad_enabled()
    _grad_mode.enabled = enabled
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad():
    """Context manager: operations inside record no graph (inference, parameter updates)."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager: turn graph recording back on inside a ``no_grad`` block."""
    return _set_grad_enabled(True)


def _as_array(data, dtype=None):
    """The array a Tensor holds. As in PyTorch: Python floats become float32, float64 arrays
    stay float64, float16 becomes float32, integer and boolean values keep their type."""
    if isinstance(data, Tensor):
        data = data.array
    xp = get_array_module(data)
    is_array = xp is not np or isinstance(data, (np.ndarray, np.generic))
    array = xp.asarray(data)
    if array.dtype.kind not in "biufc":
        raise TypeError(f"a tensor holds numbers or booleans, got data of dtype {array.dtype}")
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and (array.dtype != np.float64 or not is_array):
        return array.astype(np.float32, copy=False)
    return array


class Tensor:
    """An array with an optional gradient and the Function that produced it.

    ``array`` is the raw NumPy / CuPy array. ``data`` is, as in PyTorch, a detached Tensor that
    shares that array. ``grad`` is a Tensor (or None) that ``backward`` fills for leaves.
    """

    __array_priority__ = 1000  # so that ndarray + Tensor calls Tensor.__radd__
    _post_accumulate_grad_hooks = ()  # a list on the instance once a hook is registered

    def __init__(self, data, requires_grad=False, dtype=None):
        self.array = _as_array(data, dtype)
        self.grad = None
        self.grad_fn = None          # the Function whose output this is (None for a leaf)
        self._output_index = 0       # which output of grad_fn
        self._version = [0]          # in-place changes so far, shared with detach() and views
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    # ----- basic properties ------------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def device(self):
        return device_of(self.array)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def data(self):
        return Tensor(self.array)

    @data.setter
    def data(self, value):
        self.array = _as_array(value)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    # ----- conversions ------------------------------------------------------------------------
    def numpy(self):
        """The values as a NumPy array (shared with the tensor on the CPU, copied from a GPU)."""
        xp = get_array_module(self.array)
        return self.array if xp is np else xp.asnumpy(self.array)

    def item(self):
        if self.array.size != 1:
            raise RuntimeError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.array.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(tensor)``: the values (as ``numpy()``), so NumPy functions take tensors."""
        values = self.numpy() if dtype is None else self.numpy().astype(dtype, copy=False)
        return values.copy() if copy and np.may_share_memory(values, self.numpy()) else values

    def contiguous(self):
        """Self: a kernel copies a non-contiguous array itself when it needs to."""
        return self

    def detach(self):
        detached = Tensor(self.array)
        detached._version = self._version
        return detached

    def clone(self):
        return ops.clone(self)

    def to(self, *args, **kwargs):
        """PyTorch's ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``
        (minicnn/device.py): a new tensor in the graph, or self when nothing changes."""
        return tensor_to(self, *args, **kwargs)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return Tensor(self.array.astype(np.int64))

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}Backward0>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats the number of a 0-d tensor, as in PyTorch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __bool__(self):
        if self.array.size != 1:
            many = "no values" if self.array.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous "
                               f"(shape {self.shape})")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.size != 1 or self.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    # ----- in-place updates (outside the graph, as in PyTorch) --------------------------------
    def _check_inplace(self):
        """Refuse to change a tensor in the graph; count the change otherwise, so that a backward
        that needs the old values can say they were overwritten."""
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("a tensor that requires grad cannot be changed in place while "
                               "gradients are recorded; wrap the update in mc.no_grad()")
        self._version[0] += 1

    def _inplace(self, ufunc, other):
        self._check_inplace()
        other = other.array if isinstance(other, Tensor) else other
        ufunc(self.array, other, out=self.array, casting="same_kind")
        return self

    def _augmented(self, out_of_place, in_place, other):
        """``x += y`` and friends: in place, except on a non-leaf tensor of the graph, where the
        name is rebound to a new tensor (so ``out += identity`` in a forward pass works)."""
        if self.requires_grad and self.grad_fn is not None and is_grad_enabled():
            return out_of_place(self, other)
        return in_place(self, other)

    def add_(self, other, alpha=1):
        return self._inplace(np.add, other if alpha == 1 else raw(other) * alpha)

    def sub_(self, other, alpha=1):
        return self._inplace(np.subtract, other if alpha == 1 else raw(other) * alpha)

    def mul_(self, other):
        return self._inplace(np.multiply, other)

    def div_(self, other):
        return self._inplace(np.true_divide, other)

    def __iadd__(self, other):
        return self._augmented(type(self).__add__, Tensor.add_, other)

    def __isub__(self, other):
        return self._augmented(type(self).__sub__, Tensor.sub_, other)

    def __imul__(self, other):
        return self._augmented(type(self).__mul__, Tensor.mul_, other)

    def __itruediv__(self, other):
        return self._augmented(type(self).__truediv__, Tensor.div_, other)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self._check_inplace()
        self.array[...] = value
        return self

    def copy_(self, source):
        self._check_inplace()
        self.array[...] = onto_device_of(self.array, raw(source))
        return self

    # ----- the backward pass ------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * gradient into ``leaf.grad`` for every leaf that requires
        grad. ``gradient`` defaults to 1 and may only be left out for a one-element tensor."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        xp = get_array_module(self.array)
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, "
                                   f"got shape {self.shape}")
            seed = xp.ones_like(self.array)
        else:
            seed = xp.asarray(raw(gradient), dtype=self.dtype)
            if seed.shape != self.array.shape:
                raise ValueError(f"gradient has shape {seed.shape}, expected {self.shape}")
        if self.grad_fn is None:
            _accumulate_leaf(self, seed)
            _run_post_accumulate_hooks(self)
            return
        run_backward(self, seed, retain_graph)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs once per backward pass, as soon as this leaf's ``.grad`` holds
        every contribution of that pass (PyTorch's hook of the same name). Returns a handle
        whose ``remove()`` unregisters it. Raises RuntimeError on a non-leaf tensor."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if not self._post_accumulate_grad_hooks:
            self._post_accumulate_grad_hooks = []
        self._post_accumulate_grad_hooks.append(hook)
        return _HookHandle(self._post_accumulate_grad_hooks, hook)

    # operators and math methods are attached by minicnn.ops


class _HookHandle:
    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def raw(value):
    """The array of a Tensor; anything else as it is."""
    return value.array if isinstance(value, Tensor) else value


def _accumulate_leaf(tensor, grad):
    grad = grad.astype(tensor.dtype, copy=False)
    if tensor.grad is None:
        # a fresh array: the caller may still hold ``grad`` (e.g. the seed or an upstream buffer)
        tensor.grad = Tensor(grad.copy())
    else:
        tensor.grad.array = tensor.grad.array + grad


def _run_post_accumulate_hooks(tensor):
    for hook in list(tensor._post_accumulate_grad_hooks):
        hook(tensor)


def _topological_order(root_fn):
    """Functions reachable from root_fn, each after every Function that consumes its output.
    Iterative depth-first search, so deep graphs do not hit Python's recursion limit."""
    order, visited = [], {id(root_fn)}
    stack = [(root_fn, iter(root_fn.inputs))]
    while stack:
        fn, inputs = stack[-1]
        for tensor in inputs:
            parent = tensor.grad_fn
            if parent is not None and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, iter(parent.inputs)))
                break
        else:
            stack.pop()
            order.append(fn)
    order.reverse()
    return order


def run_backward(root, seed, retain_graph=False):
    # output gradients waiting for each Function, summed over every consumer
    pending = {id(root.grad_fn): [None] * root.grad_fn.num_outputs}
    pending[id(root.grad_fn)][root._output_index] = seed
    order = _topological_order(root.grad_fn)
    # leaves with hooks: how many Functions may still add to their .grad, and whether one has
    hooked_uses = Counter(id(tensor) for fn in order for tensor in fn.inputs
                          if tensor._post_accumulate_grad_hooks and tensor.grad_fn is None)
    accumulated = set()
    for fn in order:
        grad_outputs = pending.pop(id(fn), None)
        inputs = fn.inputs
        if grad_outputs is None:
            _count_down_hooked_uses(inputs, hooked_uses, accumulated)
            continue
        grad_inputs = fn.run_backward(grad_outputs)
        if not retain_graph:
            fn.release()
        for tensor, grad in zip(inputs, grad_inputs):
            if grad is None or not tensor.requires_grad:
                continue
            if grad.shape != tensor.array.shape:
                raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                                   f"{grad.shape} for an input of shape {tensor.shape}")
            if tensor.grad_fn is None:
                _accumulate_leaf(tensor, grad)
                accumulated.add(id(tensor))
                continue
            slots = pending.setdefault(id(tensor.grad_fn), [None] * tensor.grad_fn.num_outputs)
            i = tensor._output_index
            slots[i] = grad if slots[i] is None else slots[i] + grad
        _count_down_hooked_uses(inputs, hooked_uses, accumulated)


def _count_down_hooked_uses(inputs, hooked_uses, accumulated):
    """One Function's turn is over: a hooked leaf that no later Function feeds gets its hooks."""
    for tensor in inputs:
        if id(tensor) in hooked_uses:
            hooked_uses[id(tensor)] -= 1
            if hooked_uses[id(tensor)] == 0 and id(tensor) in accumulated:
                _run_post_accumulate_hooks(tensor)


class Function:
    """One differentiable operation.

    Subclasses write ``forward(*arrays, **options)`` returning an array (or a tuple of arrays)
    and ``backward(*grad_outputs)`` returning one gradient array (or None) per positional
    input, in order (a single input may return a bare array). ``Subclass.apply(*inputs,
    **options)`` runs it on Tensors. Non-tensor positional inputs (None, numbers) are passed to
    forward unchanged and get no gradient; ``self.needs_grad[i]`` says which inputs want one.
    ``self.kernels`` is the kernel set the op runs on (see ``kernels``).
    """

    inputs = saved = needs_grad = _saved_versions = ()   # apply() sets them on the instance
    num_outputs = 1
    _released = False
    _kernels = None

    def __repr__(self):     # PyTorch's name for the node: <MulBackward0 object at 0x...>
        return f"<{type(self).__name__}Backward0 object at {id(self):#x}>"

    @property
    def kernels(self):
        """The kernel set for this op's first tensor input (backend.kernels_for), chosen when the
        forward pass first asks, and recorded (backend.trace, MINICNN_LOG=kernels)."""
        if self._kernels is None:
            self._kernels = backend.kernels_for(self._dispatch_array)
            backend.record(type(self).__name__, self._kernels)
        return self._kernels

    @classmethod
    def apply(cls, *inputs, **options):
        fn = cls()
        fn.needs_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        tensor_positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor)]
        arrays = [x.array if isinstance(x, Tensor) else x for x in inputs]
        fn._dispatch_array = arrays[tensor_positions[0]] if tensor_positions else None
        outputs = fn.forward(*arrays, **options)
        fn._dispatch_array = None
        single = not isinstance(outputs, tuple)
        outputs = (outputs,) if single else outputs
        tensors = [x for x in inputs if isinstance(x, Tensor)]
        records = is_grad_enabled() and any(t.requires_grad for t in tensors)
        results = tuple(Tensor(out) for out in outputs)
        for result in results:
            for t in tensors:
                # a view (reshape, permute, basic indexing) shares its base's in-place count, so
                # a change made through either is seen by a backward that saved the other
                if backend.may_share_memory(result.array, t.array):
                    result._version = t._version
        if records:
            fn.inputs = tuple(tensors)
            fn._tensor_positions = tensor_positions
            fn.num_outputs = len(outputs)
            fn._output_specs = [(out.shape, out.dtype) for out in outputs]
            for index, result in enumerate(results):
                if result.array.dtype.kind in "fc":
                    result.requires_grad = True
                    result.grad_fn = fn
                    result._output_index = index
            saved = {id(value) for value in fn.saved}
            fn._saved_versions = [(t._version, t._version[0]) for t in tensors + list(results)
                                  if id(t.array) in saved]
        else:
            fn.release()
        return results[0] if single else results

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    def save_for_backward(self, *values):
        self.saved = values

    def run_backward(self, grad_outputs):
        if self._released:
            raise RuntimeError(
                f"trying to backward through {type(self).__name__} a second time: its saved "
                "values were freed after the first backward. Pass retain_graph=True to the "
                "first backward() to keep them.")
        if any(counter[0] != version for counter, version in self._saved_versions):
            raise RuntimeError(
                f"one of the tensors that {type(self).__name__}.backward needs was modified by an "
                "in-place operation after the forward pass; compute it out of place (or clone it)")
        xp = get_array_module(next(g for g in grad_outputs if g is not None))
        # NumPy turns 0-d results into scalars; backward (and a kernel) always gets arrays
        grad_outputs = [xp.asarray(g) if g is not None else xp.zeros(shape, dtype)
                        for g, (shape, dtype) in zip(grad_outputs, self._output_specs)]
        grads = self.backward(*grad_outputs)
        grads = grads if isinstance(grads, tuple) else (grads,)
        # backward answers for every positional input; keep the answers for the tensors
        grads = tuple(grads[i] for i in self._tensor_positions)
        return tuple(None if g is None else g.astype(t.dtype, copy=False)
                     for g, t in zip(grads, self.inputs))

    def release(self):
        """Drop the saved arrays and the links to the inputs (so that the activations can be
        freed): after this, backward through this Function is an error."""
        self.saved = self.inputs = self._saved_versions = ()
        self._released = True


from minicnn import ops  # noqa: E402  (attaches the operators and math methods to Tensor)
