"""``minicnn.summary(model, input_size)``: a model's table, layer by layer, as the lectures
draw it: output shape, weights and parameters, activation values and bytes, multiply-adds,
and the receptive field and jump of each layer's output.

The model runs one forward pass on random input (in eval mode unless ``training=True``), with
a forward hook on every module. A leaf module (conv, BN, ReLU, pool, linear, ...) gives one
row. A module with children gives a row only when its output is a tensor that none of its
children returned, i.e. when its own forward computed something (the concatenation of an
Inception module, a residual addition, the ReLU that GoogLeNet's BasicConv2d applies
functionally); so branching models are summarised correctly. The model itself gets such a row,
named "output", when its forward computes after its last child.

Counting rules:
- parameters: a module's own parameters, counted at its first call; the totals are those of
  ``model.parameters()`` (so layers that did not run, like inactive auxiliary heads, count too);
- weights: the ``weight`` parameter only, as lecture tables count them (no biases);
- activation values and bytes: the elements of the layer's output for the whole batch, where
  the output has memory of its own (not the input returned, not a view); the totals add
  these and the input;
- multiply-adds: conv ``Cout * Hout * Wout * Cin/groups * kh * kw``, linear ``in * out`` per
  row of the input, times the batch; nothing for BN, activations, pooling or additions;
- receptive field and jump: along the path that leads to the layer's output (where paths join,
  as in a concatenation or an addition, the largest), per axis, in input pixels;
- kept for backward: the bytes of the distinct arrays that minicnn's autograd graph holds
  after the forward pass (the intermediate outputs and what each op saved), i.e. the memory
  a training step keeps until its backward pass; parameters and their gradients come on top.
"""

from dataclasses import dataclass

import numpy as np

from minicnn import nn
from minicnn.autograd import Function, Tensor, enable_grad
from minicnn.backend import get_array_module
from minicnn.random import get_rng_state, set_rng_state
from minicnn.backend.geometry import pair
from minicnn.utils.conv_arithmetic import receptive_field_step


@dataclass
class LayerRow:
    """One row of the summary table."""
    name: str                 # the module's path ("features.0"); "input"; "output" for the
                              # model's own forward (only when it computes after its children)
    type: str                 # the class name, with the kernel and stride of a conv or pool
    output_shape: tuple       # the full output shape, batch first
    weights: int              # elements of the module's own ``weight`` parameter
    params: int               # elements of the module's own parameters (first call only)
    activations: int          # elements of the output; None if its memory was counted
    activation_bytes: int     # already (Identity, Dropout in eval, Flatten's view)
    mult_adds: int
    receptive_field: tuple    # (rh, rw) in input pixels, or None where it has no meaning
    jump: tuple               # (jh, jw), or None


class Summary:
    """The result of ``minicnn.summary``: ``rows`` (LayerRow, in the order the forward pass ran
    them) and the totals; ``str()`` prints the table."""

    def __init__(self, model_name, input_shape, rows, total_params, trainable_params,
                 param_bytes, backward_bytes, output_shapes):
        self.model_name = model_name
        self.input_shape = input_shape
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.param_bytes = param_bytes
        self.backward_bytes = backward_bytes
        self.output_shapes = output_shapes
        self.total_mult_adds = sum(row.mult_adds for row in rows)
        distinct = [row for row in rows if row.activations is not None]
        self.activation_values = sum(row.activations for row in distinct)
        self.activation_bytes = sum(row.activation_bytes for row in distinct)

    def row(self, name):
        """The first row of the module called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row named {name!r}")

    def __repr__(self):
        return (f"<Summary of {self.model_name}: {len(self.rows)} rows, "
                f"{self.total_params:,} params, {self.total_mult_adds:,} mult-adds>")

    def __str__(self):
        headers = ["Layer", "Type", "Output shape", "Weights", "Params", "Activations",
                   "Act. bytes", "Mult-adds", "RF", "Jump"]
        table = [headers] + [_cells(row) for row in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
        left = 3  # name, type and shape read better left-aligned, numbers right-aligned

        def format_line(cells):
            return "  ".join(cell.ljust(width) if i < left else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

        rule = "-" * len(format_line(headers))
        batch = self.input_shape[0]
        lines = [f"{self.model_name}: input {_shape(self.input_shape)}, batch {batch}",
                 rule, format_line(headers), rule]
        lines += [format_line(cells) for cells in table[1:]]
        outputs = ", ".join(_shape(shape) for shape in self.output_shapes)
        lines += [rule,
                  f"Output: {outputs}",
                  f"Total params: {self.total_params:,} (trainable {self.trainable_params:,}; "
                  f"{self.param_bytes:,} bytes)",
                  f"Total mult-adds: {self.total_mult_adds:,}",
                  f"Activation values: {self.activation_values:,} "
                  f"({self.activation_bytes:,} bytes, the input and every distinct layer output)",
                  f"Kept for backward: {self.backward_bytes:,} bytes "
                  "(what the autograd graph holds after the forward pass)",
                  f"Training step: {self.backward_bytes + 2 * self.param_bytes:,} bytes "
                  "(kept for backward + parameters + gradients; optimizer state not counted)",
                  rule]
        return "\n".join(lines)


def _shape(shape):
    return "x".join(str(size) for size in shape)


def _axes(values):
    if values is None:
        return "-"
    return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"


def _cells(row):
    activations = "-" if row.activations is None else f"{row.activations:,}"
    activation_bytes = "-" if row.activation_bytes is None else f"{row.activation_bytes:,}"
    return [row.name, row.type, _shape(row.output_shape[1:]), f"{row.weights:,}",
            f"{row.params:,}", activations, activation_bytes, f"{row.mult_adds:,}",
            _axes(row.receptive_field), _axes(row.jump)]


def _tensors(value):
    """The Tensors in a module's inputs or output (which may be tuples, lists or namedtuples)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    return []


def _type_label(module):
    label = type(module).__name__
    if hasattr(module, "kernel_size"):
        kh, kw = pair(module.kernel_size, "kernel_size", "summary")
        stride = getattr(module, "stride", None)
        sh, sw = pair(stride if stride is not None else module.kernel_size, "stride", "summary")
        label += f" {kh}x{kw}" if (sh, sw) == (1, 1) else f" {kh}x{kw}/{sh}" if sh == sw \
            else f" {kh}x{kw}/{sh}x{sw}"
    return label


def _mult_adds(module, output):
    """Multiply-adds of a conv or linear layer (zero for everything else)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = pair(module.kernel_size, "kernel_size", "summary")
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


class _Tracer:
    """Follows the forward pass: records rows and the receptive field of every output."""

    def __init__(self, model, model_input):
        self.rows = []
        self.field = {id(model_input): ((1, 1), (1, 1))}   # tensor id -> (rf, jump) or None
        self.alive = [model_input]      # keeps traced tensors alive, so their ids stay unique
        self.counted_params = set()
        self.counted_memory = {id(_root(model_input.array))}
        self.children = {id(m): any(True for _ in m.children()) for m in model.modules()}

    def field_of(self, tensor):
        """(rf, jump) of a tensor: recorded for layer outputs, found for others by walking the
        autograd graph back to the recorded tensors it was computed from (largest wins)."""
        key = id(tensor)
        if key in self.field:
            return self.field[key]
        found, stack, seen = [], [tensor], {key}
        while stack:
            current = stack.pop()
            if id(current) in self.field:
                if self.field[id(current)] is not None:
                    found.append(self.field[id(current)])
                continue
            if current.grad_fn is None:
                continue
            for parent in current.grad_fn.inputs:
                if id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append(parent)
        if not found:
            result = None
        else:
            rf = tuple(max(f[0][axis] for f in found) for axis in range(2))
            jump = tuple(max(f[1][axis] for f in found) for axis in range(2))
            result = (rf, jump)
        self.remember(tensor, result)
        return result

    def remember(self, tensor, field):
        self.field[id(tensor)] = field
        self.alive.append(tensor)

    def layer_field(self, module, inputs, output):
        """The receptive field of a leaf module's output, from that of its input."""
        sources = _tensors(inputs)
        if not sources or output.ndim != 4 or sources[0].ndim != 4:
            return None
        fields = [self.field_of(t) for t in sources]
        if any(f is None for f in fields):
            return None
        rf = tuple(max(f[0][axis] for f in fields) for axis in range(2))
        jump = tuple(max(f[1][axis] for f in fields) for axis in range(2))
        in_size, out_size = sources[0].shape[2:], output.shape[2:]
        if hasattr(module, "kernel_size"):
            kernel = pair(module.kernel_size, "kernel_size", "summary")
            stride = pair(module.stride if getattr(module, "stride", None) is not None
                          else module.kernel_size, "stride", "summary")
            dilation = pair(getattr(module, "dilation", 1), "dilation", "summary")
        elif hasattr(module, "output_size"):
            # adaptive pooling: regular windows only when the output size divides the input
            if any(i % o for i, o in zip(in_size, out_size)):
                return None
            kernel = stride = tuple(i // o for i, o in zip(in_size, out_size))
            dilation = (1, 1)
        elif in_size == out_size:
            return rf, jump
        else:
            return None
        steps = [receptive_field_step(rf[a], jump[a], kernel[a], stride[a], dilation[a])
                 for a in range(2)]
        return (steps[0][0], steps[1][0]), (steps[0][1], steps[1][1])

    def hook(self, name):
        def record(module, inputs, output):
            outputs = _tensors(output)
            if not outputs:
                return
            is_leaf = not self.children[id(module)]
            new = [t for t in outputs if id(t) not in self.field]
            if not is_leaf and not new:
                return      # a container: its output is a row already
            if is_leaf and len(outputs) == 1:
                field = self.layer_field(module, inputs, outputs[0])
                self.remember(outputs[0], field)
            elif outputs[0].ndim == 4:
                field = self.field_of(outputs[0])
            else:
                field = None
                self.remember(outputs[0], field)
            # a view (Flatten's reshape) shares its memory with a tensor counted before
            fresh = [t for t in new if id(_root(t.array)) not in self.counted_memory]
            self.counted_memory.update(id(_root(t.array)) for t in fresh)
            params = [p for p in module.parameters(recurse=False)
                      if id(p) not in self.counted_params]
            self.counted_params.update(id(p) for p in params)
            weight = module._parameters.get("weight")
            weights = weight.numel() if any(p is weight for p in params) else 0
            self.rows.append(LayerRow(
                name=name, type=_type_label(module),
                output_shape=outputs[0].shape,
                weights=weights, params=sum(p.numel() for p in params),
                activations=sum(t.numel() for t in fresh) if fresh else None,
                activation_bytes=sum(int(t.array.nbytes) for t in fresh) if fresh else None,
                mult_adds=sum(_mult_adds(module, t) for t in outputs) if is_leaf else 0,
                receptive_field=None if field is None else field[0],
                jump=None if field is None else field[1]))
        return record


def _root(array):
    """The array that owns the memory a view looks at."""
    while getattr(array, "base", None) is not None and hasattr(array.base, "nbytes"):
        array = array.base
    return array


def _graph_bytes(outputs, parameter_roots):
    """Bytes of the distinct arrays held by the autograd graph behind ``outputs``: each
    Function's input tensors and every array it saved (parameters excluded)."""
    seen_functions, seen_arrays, total = set(), set(parameter_roots), 0
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]

    def held(value):
        if isinstance(value, Tensor):
            yield value.array
        elif isinstance(value, (tuple, list)):
            for item in value:
                yield from held(item)
        elif hasattr(value, "nbytes") and hasattr(value, "shape"):
            yield value

    while stack:
        fn = stack.pop()
        if id(fn) in seen_functions:
            continue
        seen_functions.add(id(fn))
        for value in vars(fn).values():
            for array in held(value):
                root = _root(array)
                if id(root) not in seen_arrays:
                    seen_arrays.add(id(root))
                    total += int(root.nbytes)
        stack.extend(parent for parent, _ in fn.next_functions if isinstance(parent, Function))
    return total


def summary(model, input_size, training=False, model_name=None):
    """Run ``model`` once on random input of ``input_size`` and return its ``Summary``.

    ``input_size`` is the shape of one sample ``(C, H, W)`` (batch 1) or of a batch
    ``(N, C, H, W)``; counts are for the whole batch. The input takes the dtype and device of
    the model's parameters. The forward runs in eval mode unless ``training=True``; the
    model's mode, its buffers (BN running statistics) and minicnn's random state are restored
    afterwards."""
    if isinstance(input_size, int) or not all(
            isinstance(v, (int, np.integer)) and v >= 1 for v in input_size):
        raise ValueError(f"input_size must be a tuple of positive ints, got {input_size!r}")
    input_size = tuple(int(v) for v in input_size)
    if len(input_size) == 3:
        input_size = (1,) + input_size
    if len(input_size) != 4:
        raise ValueError(f"input_size must be (C, H, W) or (N, C, H, W), got {input_size!r}")
    params = list(model.parameters())
    like = params[0].array if params else np.empty(0, dtype=np.float32)
    xp = get_array_module(like)
    dtype = like.dtype if like.dtype.kind == "f" else np.float32
    values = np.random.default_rng(0).standard_normal(input_size).astype(dtype)
    model_input = Tensor(xp.asarray(values), requires_grad=True)

    was_training = [(module, module.training) for module in model.modules()]
    saved_buffers = [(b, b.array.copy()) for b in model.buffers()]
    rng_state = get_rng_state()
    tracer = _Tracer(model, model_input)
    # the model itself gets a row ("output") only if its forward computes after its children
    handles = [module.register_forward_hook(tracer.hook(name or "output"))
               for name, module in model.named_modules()]
    try:
        model.train(training)
        with enable_grad():
            output = model(model_input)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in was_training:
            object.__setattr__(module, "training", mode)
        for buffer, array in saved_buffers:
            buffer.array[...] = array
        set_rng_state(rng_state)

    input_row = LayerRow("input", "Input", input_size, 0, 0, model_input.numel(),
                         int(model_input.array.nbytes), 0, (1, 1), (1, 1))
    outputs = _tensors(output)
    parameter_roots = [id(_root(p.array)) for p in params] + [id(_root(model_input.array))]
    backward_bytes = _graph_bytes(outputs, parameter_roots) + int(model_input.array.nbytes)
    return Summary(model_name or type(model).__name__, input_size, [input_row] + tracer.rows,
                   total_params=sum(p.numel() for p in params),
                   trainable_params=sum(p.numel() for p in params if p.requires_grad),
                   param_bytes=sum(int(p.array.nbytes) for p in params),
                   backward_bytes=backward_bytes,
                   output_shapes=[t.shape for t in outputs])
