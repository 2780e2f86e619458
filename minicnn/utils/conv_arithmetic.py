"""Convolution arithmetic for exercises: the output size, parameters and multiply-adds of one
layer from its hyper-parameters, and the receptive field of a chain of layers.

    >>> conv_layer((5, 33, 33), out_channels=10, kernel_size=3, stride=2)
    ConvLayer(output_shape=(10, 16, 16), weights=450, biases=10, params=460, mult_adds=115200)
    >>> receptive_fields([(3, 1), (3, 1), (3, 1)])        # three stacked 3x3 convs
    [(3, 1), (5, 1), (7, 1)]

The same formulas run inside ``minicnn.summary``.
"""

from collections import namedtuple

from minicnn.backend import geometry

ConvLayer = namedtuple("ConvLayer", ["output_shape", "weights", "biases", "params", "mult_adds"])


def _positive_int(value, name, minimum=1):
    if not geometry.is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Output length of a convolution or pooling along one axis:
    ``floor((size + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1``.

    With ``ceil_mode`` the division rounds up, and (as in PyTorch) a last window that would
    start inside the right padding is dropped."""
    size = _positive_int(size, "size")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    stride = _positive_int(stride, "stride")
    padding = _positive_int(padding, "padding", minimum=0)
    dilation = _positive_int(dilation, "dilation")
    if size + 2 * padding < dilation * (kernel_size - 1) + 1:
        raise ValueError(f"the window (kernel_size={kernel_size}, dilation={dilation}) is larger "
                         f"than the padded input ({size} + 2 * {padding})")
    return geometry.output_size(size, kernel_size, stride, padding, dilation, ceil_mode)


def conv_layer(input_shape, out_channels, kernel_size, stride=1, padding=0, dilation=1,
               groups=1, bias=True):
    """Output shape, parameters and multiply-adds of a Conv2d on an input of shape (C, H, W).

    weights = out_channels * C/groups * kh * kw, biases = out_channels (if bias),
    multiply-adds = out_channels * Hout * Wout * C/groups * kh * kw (bias additions not counted).
    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int or an (h, w) pair."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)!r}")
    channels, height, width = (_positive_int(v, "input_shape") for v in input_shape)
    out_channels = _positive_int(out_channels, "out_channels")
    groups = _positive_int(groups, "groups")
    if channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={channels} and "
                         f"out_channels={out_channels}")
    kh, kw = geometry.pair(kernel_size, "kernel_size", "conv_layer")
    sh, sw = geometry.pair(stride, "stride", "conv_layer")
    ph, pw = geometry.pair(padding, "padding", "conv_layer")
    dh, dw = geometry.pair(dilation, "dilation", "conv_layer")
    out_h = conv_output_size(height, kh, sh, ph, dh)
    out_w = conv_output_size(width, kw, sw, pw, dw)
    weights = out_channels * (channels // groups) * kh * kw
    biases = out_channels if bias else 0
    mult_adds = out_channels * out_h * out_w * (channels // groups) * kh * kw
    return ConvLayer((out_channels, out_h, out_w), weights, biases, weights + biases, mult_adds)


def receptive_field_step(receptive_field, jump, kernel_size, stride=1, dilation=1):
    """One layer further along a path: ``r_out = r_in + (k - 1) * dilation * j_in`` and
    ``j_out = j_in * stride`` (j: the distance in input pixels between neighbouring outputs)."""
    return receptive_field + (kernel_size - 1) * dilation * jump, jump * stride


def receptive_fields(layers):
    """Receptive field and jump after each layer of a chain; ``layers`` holds
    (kernel_size, stride) or (kernel_size, stride, dilation) tuples, one axis."""
    receptive_field, jump, result = 1, 1, []
    for layer in layers:
        receptive_field, jump = receptive_field_step(receptive_field, jump, *layer)
        result.append((receptive_field, jump))
    return result

