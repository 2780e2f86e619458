"""Reverse-mode automatic differentiation: Tensor, Function and the backward pass.

A Tensor wraps an array (NumPy, or CuPy on a GPU). Every differentiable operation is a
Function: its ``forward`` computes on raw arrays and saves what the gradient needs, its
``backward`` turns the gradient of the output into gradients of the inputs. Calling a Function
records it as the ``grad_fn`` of its output, so the graph is built as the program runs.

``Tensor.backward`` walks that graph once in reverse topological order (found iteratively, so a
chain of any length works), sums the gradients of a tensor used several times, and stores the
result in ``.grad`` of the leaves (under a lock: concurrent backward passes on one model add up).
A leaf's post-accumulate-grad hooks run as soon as its ``.grad`` is complete for this backward,
while the rest of the graph is still to be walked (data-parallel training starts communicating a
gradient there).

Every write to a tensor's array counts in its version counter, which views and ``detach()`` share
with it. A Function remembers the versions of the tensors whose arrays it saved, and its backward
raises if one was written since. A write of values that require grad is recorded: the written
tensor (or, for a view, its base) takes a ``CopySlices`` node as its ``grad_fn``, as in PyTorch.
The rules, and where minicnn still differs from PyTorch, are in the README (What autograd
records).
"""

import threading
from collections import Counter
from contextlib import contextmanager

import numpy as np

from minicnn import backend
from minicnn.backend import get_array_module
from minicnn.device import device_of, move_array, onto_device_of, tensor_to

_grad_mode = threading.local()
_accumulate_lock = threading.Lock()


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
    # hooks (minicnn.autograd_hooks registers them): a list on the instance once there is one
    _grad_hooks = _post_accumulate_grad_hooks = ()
    _graph_version = 0   # a view: the version at which its grad_fn was last set
    _grad = None         # what the ``grad`` property holds (tensor_api.py checks assignments)

    def __init__(self, data, requires_grad=False, dtype=None):
        self.array = _as_array(data, dtype)
        self.grad_fn = None          # the Function whose output this is (None for a leaf)
        self._output_index = 0       # which output of grad_fn
        self._version = [0]          # writes so far, shared with detach() and views
        self._base, self._views = None, ()   # a view: the tensor it views, and the view ops
        self._requires_grad = False
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

    def __iter__(self):     # over the first dimension, each element a view, as PyTorch
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __contains__(self, element):
        if not isinstance(element, (Tensor, int, float, complex, np.number, np.bool_)):
            raise RuntimeError("Tensor.__contains__ only supports Tensor or scalar, but you "
                               f"passed in a {type(element)}.")
        return bool((self == element).array.any())

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

    @property
    def requires_grad(self):
        if self._base is not None:
            self._view_current_base()
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad):
        if self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables."
                               + ("" if requires_grad else _USE_DETACH))
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables."
                               + _USE_DETACH)
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self._requires_grad = bool(requires_grad)
        return self

    # ----- conversions ------------------------------------------------------------------------
    def numpy(self):
        """The values as a NumPy array (shared with the tensor on the CPU, copied from a GPU)."""
        xp = get_array_module(self.array)
        return self.array if xp is np else xp.asnumpy(self.array)

    def item(self):
        if self.array.size != 1:
            raise RuntimeError(f"a Tensor with {self.array.size} elements cannot be converted "
                               "to Scalar")
        return self.array.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(tensor)``: the values (as ``numpy()``), so NumPy functions take tensors."""
        values = self.numpy() if dtype is None else self.numpy().astype(dtype, copy=False)
        return values.copy() if copy and np.may_share_memory(values, self.numpy()) else values

    def contiguous(self):
        """Self when its array is C-contiguous, else a contiguous copy (in the graph)."""
        return self if self.array.flags.c_contiguous else ops.clone(self)

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
        """``f"{loss:.4f}"`` formats the number of a 0-d tensor, as in PyTorch; other tensors
        take only the empty spec."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return super().__format__(spec)

    def __bool__(self):
        if self.array.size != 1:
            many = "no values" if self.array.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous "
                               f"(shape {self.shape})")
        return bool(self.item())

    def __index__(self):
        if self.array.size != 1 or self.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an "
                            f"index, got dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    # ----- in-place writes (recorded in the graph, as in PyTorch) ------------------------------
    def _write(self, index, value):
        """``self[index] = value`` in place, so that every alias sees it, counted in the version
        counter. When gradients are recorded and self or value requires grad, the write is a
        CopySlices node on self's base (self itself unless self is a view), which becomes the
        base's grad_fn; a view written through is given a grad_fn that views the new base."""
        base = self if self._base is None else self._base
        if base.requires_grad and base.grad_fn is None and is_grad_enabled():
            raise RuntimeError(f"a {'' if base is self else 'view of a '}leaf Variable that "
                               "requires grad is being used in an in-place operation.")
        written = CopySlices.apply(base, value, self._views, index)
        self._version[0] += 1
        if written.grad_fn is not None:
            base.grad_fn, base._output_index, base._requires_grad = written.grad_fn, 0, True
            self._view_current_base()
        return self

    def _view_current_base(self):
        """A view whose base was written since its grad_fn was set (through the base or any
        view of it) views the base's new value: its grad_fn is made again, as PyTorch does."""
        base = self._base
        if (base is not None and self._graph_version != self._version[0] and base.requires_grad
                and is_grad_enabled()):
            self.grad_fn, self._output_index = ViewOf.apply(base, self._views).grad_fn, 0
            self._requires_grad, self._graph_version = True, self._version[0]

    def _inplace(self, op, *args):
        """``self = op(self, *args)`` in place (add_, mul_, +=, clamp_, ...): the result must
        keep self's shape, and its dtype must cast to self's, as PyTorch's in-place rules."""
        result = op(self, *args)
        saved = result.grad_fn._saved_versions if result.grad_fn is not None else ()
        if any(counter is self._version for counter, _, _ in saved):
            # backward reads self's old values (mul_, clamp_): it gets a copy, as in PyTorch
            result = op(ops.clone(self), *args)
        if result.shape != self.shape:
            raise ops.ShapeError(f"output with shape {list(self.shape)} doesn't match the "
                                 f"broadcast shape {list(result.shape)}")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            names = [_TYPE_NAMES.get(d.name, d.name) for d in (result.dtype, self.dtype)]
            raise RuntimeError(f"result type {names[0]} can't be cast to the desired output type "
                               f"{names[1]}")
        return self._write(Ellipsis, ops.cast(result, self.dtype))

    def add_(self, other, alpha=1):
        return self._inplace(ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        return self._inplace(ops.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._inplace(ops.mul, other)

    def div_(self, other):
        return self._inplace(ops.div, other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return self._write(Ellipsis, value)

    def copy_(self, source):
        """Copy ``source`` (broadcast, cast to self's dtype) into self; recorded like a write."""
        return self._write(Ellipsis, source)

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

    # operators and math methods are attached by minicnn.ops, hooks by minicnn.autograd_hooks


_USE_DETACH = (" If you want to use a computed variable in a subgraph that doesn't require "
               "differentiation use var_no_grad = var.detach().")


def raw(value):
    """The array of a Tensor; anything else as it is."""
    return value.array if isinstance(value, Tensor) else value


def increment_version(tensor):
    """Count a write to ``tensor``'s array made outside its own methods (an optimizer's kernel,
    nn.init, load_state_dict), so that a backward that saved the old values raises."""
    tensor._version[0] += 1


def _overlaps(a, b):
    """Whether two arrays may share memory: never for arrays of two array libraries, nor for two
    arrays that each own their memory (``base`` None), the common case, which costs nothing."""
    return a is b or (type(a) is type(b) and (a.base is not None or b.base is not None)
                      and get_array_module(a).may_share_memory(a, b))


def _accumulate_leaf(tensor, grad):
    for hook in tensor._grad_hooks:     # Tensor.register_hook: each may replace the gradient
        grad = hook(grad)
    grad = grad.astype(tensor.dtype, copy=False)
    with _accumulate_lock:      # read, add, write: one backward at a time
        if tensor.grad is None:
            # a fresh array: the caller may still hold ``grad`` (the seed, an upstream buffer)
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
    stack = [(root_fn, iter(root_fn.next_functions))]
    while stack:
        fn, edges = stack[-1]
        for parent, _ in edges:
            if isinstance(parent, Function) and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, iter(parent.next_functions)))
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
    # leaves with hooks: how many Functions may still feed them, and their gradient so far (their
    # hooks see the whole gradient of this backward, once, as PyTorch's AccumulateGrad)
    hooked_uses = Counter(id(leaf) for fn in order for leaf, _ in fn.next_functions
                          if isinstance(leaf, Tensor)
                          and (leaf._grad_hooks or leaf._post_accumulate_grad_hooks))
    held = {}
    for fn in order:
        grad_outputs = pending.pop(id(fn), None)
        edges = fn.next_functions
        if grad_outputs is None:
            _count_down_hooked_uses(edges, hooked_uses, held)
            continue
        for index, hook in fn.output_hooks:     # Tensor.register_hook on fn's outputs
            grad_outputs[index] = hook(grad_outputs[index])
        grad_inputs = fn.run_backward(grad_outputs)
        shapes = [tensor.shape for tensor in fn.inputs]
        if not retain_graph:
            fn.release()
        for (parent, i), grad, shape in zip(edges, grad_inputs, shapes):
            if grad is None or parent is None:
                continue
            if grad.shape != shape:
                raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                                   f"{grad.shape} for an input of shape {shape}")
            if isinstance(parent, Tensor):
                if id(parent) in hooked_uses:
                    held[id(parent)] = held[id(parent)] + grad if id(parent) in held else grad
                else:
                    _accumulate_leaf(parent, grad)
                continue
            slots = pending.setdefault(id(parent), [None] * parent.num_outputs)
            slots[i] = grad if slots[i] is None else slots[i] + grad
        _count_down_hooked_uses(edges, hooked_uses, held)


def _count_down_hooked_uses(edges, hooked_uses, held):
    """One Function's turn is over: a hooked leaf that no later Function feeds gets its whole
    gradient of this backward (its hooks first), then its post-accumulate hooks."""
    for tensor, _ in edges:
        if id(tensor) in hooked_uses:
            hooked_uses[id(tensor)] -= 1
            if hooked_uses[id(tensor)] == 0 and id(tensor) in held:
                _accumulate_leaf(tensor, held.pop(id(tensor)))
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

    # set by apply(); output_hooks: (output index, hook) pairs, set by Tensor.register_hook
    inputs = next_functions = saved = needs_grad = _saved_versions = output_hooks = ()
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
        fn.needs_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)  # views:
        # requires_grad makes a view whose base was written view its base's new value
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
                # a view (reshape, permute, basic indexing) shares its base's version counter, so
                # a write through either is seen by a backward that saved the other
                if _overlaps(result.array, t.array):
                    result._version = t._version
                    if hasattr(fn, "view_of"):
                        result._base = t if t._base is None else t._base
                        result._views = t._views + (fn,)
                        result._graph_version = t._version[0]
        if records:
            fn.inputs = tuple(tensors)
            # the graph's edges, taken now: a later in-place write gives a tensor a new grad_fn
            # but leaves this Function reading the values it was given (PyTorch's next_functions;
            # a leaf that requires grad stands for itself, an input that does not is None)
            fn.next_functions = tuple(((t.grad_fn, t._output_index) if t.grad_fn else (t, 0))
                                      if t.requires_grad else (None, 0) for t in tensors)
            fn._tensor_positions = tensor_positions
            fn.num_outputs = len(outputs)
            fn._output_specs = [(out.shape, out.dtype) for out in outputs]
            for index, result in enumerate(results):
                if result.array.dtype.kind in "fc":
                    result._requires_grad = True
                    result.grad_fn = fn
                    result._output_index = index
            fn._saved_versions = [
                (t._version, t._version[0], (t.shape, t.dtype, type(t.grad_fn), t._output_index))
                for t in tensors + list(results)
                if any(_overlaps(t.array, value) for value in fn.saved if value is not None)]
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
        for counter, version, tensor in self._saved_versions:
            if counter[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: {_describe(*tensor)} is at version {counter[0]}; "
                    f"expected version {version} instead. Hint: {type(self).__name__}'s backward "
                    "reads it; write the change out of place, or clone the tensor first.")
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
        self.saved = self.inputs = self.next_functions = self._saved_versions = ()
        self._released = True


# PyTorch's names of the dtypes in its messages
_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "bool": "Bool", "uint8": "Byte"}


def _describe(shape, dtype, op, output_index):
    """A saved tensor as PyTorch's error names it: ``[torch.FloatTensor [2, 3]], which is output 0
    of Exp,`` (op: the class of the Function that made it; NoneType for a leaf)."""
    name = _TYPE_NAMES.get(dtype.name, dtype.name)
    name = f"[torch.{name}Tensor [{', '.join(map(str, shape))}]]"
    return name if op is type(None) else f"{name}, which is output {output_index} of {op.__name__},"


def _view(array, views):
    """The view of ``array`` that the view ops ``views`` (GetItem, Reshape, ...) take in turn."""
    for fn in views:
        array = fn.view_of(array)
    return array


class CopySlices(Function):
    """``base[views][index] = value``, written in place: the node an in-place write records."""

    def forward(self, base, value, views, index):
        self.views, self.index = views, index
        self.value_shape = getattr(value, "shape", ())
        self.value_device = device_of(value) if hasattr(value, "shape") else None
        try:
            _view(base, views)[index] = onto_device_of(base, value)   # across devices, as PyTorch
        except ValueError as error:     # NumPy's "could not broadcast ...", as PyTorch's error
            raise ops.ShapeError(str(error)) from None
        return base

    def backward(self, grad):
        # base_new = base_old outside the region, value (broadcast) inside it:
        # d base_old = dy with the region zeroed ; d value = dy[region] summed to value's shape
        grad_base = grad.copy()
        region = _view(grad_base, self.views)
        grad_value = None
        if self.needs_grad[1]:
            xp = get_array_module(grad)
            grad_value = ops.sum_to_shape(xp.array(region[self.index]), self.value_shape)
            grad_value = move_array(grad_value, self.value_device)     # back where value was
        region[self.index] = 0
        return grad_base, grad_value, None, None


class ViewOf(Function):
    """The view ``views`` of a base, taken again after a write through it gave the base a new
    grad_fn (PyTorch's AsStridedBackward)."""

    def forward(self, base, views):
        self.views, self.shape = views, base.shape
        return _view(base, views)

    def view_of(self, array):
        return _view(array, self.views)

    def backward(self, grad):
        # each viewed element receives its gradient, the rest of the base none
        grad_base = get_array_module(grad).zeros(self.shape, grad.dtype)
        _view(grad_base, self.views)[...] = grad
        return grad_base, None


from minicnn import autograd_hooks, ops  # noqa: E402,F401  (attach methods to Tensor)
from minicnn.autograd_hooks import grad  # noqa: E402,F401  (torch.autograd.grad)
