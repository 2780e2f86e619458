"""Pictures of what a CNN computes, each in the terminal and, with ``--out FILE.png``, as a
figure (matplotlib, optional: ``pip install minicnn[plot]``):

    minicnn show im2col [--size 3 --kernel 2 --stride 1 --padding 0 --dilation 1]
    minicnn show receptive-field MODEL|CHECKPOINT     # RF and jump per layer, effective RF
    minicnn show filters CHECKPOINT                   # first-layer filters
    minicnn show activations CHECKPOINT --image I     # feature maps of a test image
    minicnn show saliency CHECKPOINT --image I        # input gradient of the predicted class
    minicnn zoo                                       # published top-1 against multiply-adds

The effective receptive field is that of Luo et al. 2016 ("Understanding the effective receptive
field in deep convolutional neural networks"): the gradient of one unit in the centre of a
layer's output with respect to the input, in absolute value, summed over the input channels and
averaged over images. The saliency map is that of Simonyan et al. 2014 ("Deep inside
convolutional networks"): the largest absolute input gradient of the predicted class's score
over the colour channels.
"""

import argparse
import json
import os

import numpy as np

import minicnn as mc
from minicnn.autograd import Tensor
from minicnn.backend import reference
from minicnn.utils import plotting
from minicnn.utils.conv_arithmetic import conv_output_size

SHADES = " .:-=+*#%@"          # the text heat maps, from nothing to the largest value


def _usage_error(message):
    from minicnn.recipes import UsageError
    return UsageError(message)


def _require_matplotlib(out):
    """Raise a usage error naming the fix when --out is asked for without matplotlib."""
    if out is not None and not plotting.available():
        raise _usage_error(f"--out {out} needs matplotlib, which is not installed (pip install "
                           "matplotlib, or pip install minicnn[plot]); without --out the text "
                           "form is printed")


def _save(figure, out):
    plt = plotting.pyplot()
    plotting.save_png(figure, out)
    plt.close(figure)
    print(f"saved {out}")


def text_heat_map(values, width=32):
    """A 2-d array as lines of characters from SHADES (scaled to its own maximum), at most
    ``width`` characters wide (averaged down in blocks)."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    step = max(1, int(np.ceil(values.shape[1] / width)))
    rows, columns = values.shape[0] // step * step, values.shape[1] // step * step
    blocks = values[:rows, :columns].reshape(rows // step, step, columns // step, step)
    blocks = blocks.mean(axis=(1, 3))
    levels = np.round(blocks / max(blocks.max(), 1e-300) * (len(SHADES) - 1)).astype(int)
    return ["".join(SHADES[level] * 2 for level in row) for row in levels]


# ======================================================================================= im2col
def im2col_example(size=3, channels=1, kernel=2, stride=1, padding=0, dilation=1):
    """(x, cols, oh, ow) for the input 1, 2, ..., C*size*size laid out as (1, C, size, size)."""
    x = np.arange(1, channels * size * size + 1, dtype=np.float64).reshape(1, channels, size, size)
    oh = conv_output_size(size, kernel, stride, padding, dilation)      # validates them too
    cols = reference.im2col(x, kernel, kernel, stride, stride, padding, padding, dilation, dilation)
    return x, cols, oh, oh


def im2col_text(x, cols, kernel, oh, ow):
    """The lines that print x (1, C, H, W) and its columns cols (C*kernel*kernel, oh*ow), one
    row a kernel tap (c, i, j), one column an output position (r, q)."""
    channels = x.shape[1]
    lines = [f"input x (1, {channels}, {x.shape[2]}, {x.shape[3]}):"]
    for c in range(channels):
        lines += [f"  channel {c}:"] + ["    " + " ".join(f"{v:3.0f}" for v in row)
                                        for row in x[0, c]]
    lines.append(f"columns (C*kh*kw, N*oh*ow) = {cols.shape}: column (r, q) is the window of "
                 "output (r, q); a row is one kernel tap (c, i, j)")
    header = " ".join(f"{f'({r},{q})':>6s}" for r in range(oh) for q in range(ow))
    lines.append(f"  {'tap (c,i,j)':12s} {header}")
    for row in range(cols.shape[0]):
        c, rest = divmod(row, kernel * kernel)
        i, j = divmod(rest, kernel)
        lines.append(f"  {f'({c},{i},{j})':12s} " + " ".join(f"{v:6.0f}" for v in cols[row]))
    return lines


def cmd_show_im2col(args):
    _require_matplotlib(args.out)
    try:
        x, cols, oh, ow = im2col_example(args.size, args.channels, args.kernel, args.stride,
                                         args.padding, args.dilation)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    print(f"im2col, kernel {args.kernel}x{args.kernel}, stride {args.stride}, padding "
          f"{args.padding}, dilation {args.dilation}: output {oh}x{ow}")
    print("\n".join(im2col_text(x, cols, args.kernel, oh, ow)))
    if args.out:
        _save(_im2col_figure(x, cols, args, oh, ow), args.out)
    return 0


def window_colours(count):
    """``count`` distinct RGB colours: hues spaced by the golden ratio (consecutive windows get
    far-apart hues) at two alternating lightnesses, so no colour repeats at any count."""
    from matplotlib.colors import hsv_to_rgb
    return [tuple(hsv_to_rgb(((0.61803398875 * i) % 1.0, 0.75, 0.85 if i % 2 == 0 else 0.6)))
            for i in range(count)]


def _im2col_figure(x, cols, args, oh, ow):
    plt = plotting.pyplot()
    from matplotlib.patches import Rectangle
    size, pad, k = args.size, args.padding, args.kernel
    channels = x.shape[1]
    colours = window_colours(oh * ow)
    padded = size + 2 * pad
    # up to 9 windows are outlined on one input; more would tangle, so each window then gets a
    # small copy of the input of its own (one per output position, in the output's layout)
    if oh * ow > 9:
        figure = plt.figure(figsize=(4 + 0.25 * ow * padded * channels + 0.5 * oh * ow,
                                     2 + max(0.25 * oh * padded, 0.45 * len(cols))),
                            constrained_layout=True)
        grid = figure.add_gridspec(1, 2, width_ratios=[ow * (padded * channels + 1),
                                                       1.6 * (oh * ow + 2)])
        small = grid[0].subgridspec(oh, ow)
        for r in range(oh):
            for q in range(ow):
                _window_panel(figure.add_subplot(small[r, q]), x, args, r, q,
                              colours[r * ow + q])
        figure.suptitle(f"input {size}x{size}" + (f", padding {pad} (grey)" if pad else "")
                        + f", kernel {k}x{k}, stride {args.stride}, dilation {args.dilation}: "
                        "the window of each output (r, q), and the columns", fontsize=10)
        right = figure.add_subplot(grid[1])
        _columns_panel(right, cols, colours, k, oh, ow)
        return figure
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(3 + 0.55 * (padded * channels + oh * ow),
                       1.5 + 0.45 * max(padded, len(cols))),
        gridspec_kw={"width_ratios": [padded * channels + 1, oh * ow + 2]})
    # the padded input, channels side by side; each output's window outlined in its colour
    for c in range(channels):
        x0 = c * (padded + 1)
        _input_cells(left, x, c, x0, pad, size, fontsize=9)
        left.text(x0 + padded / 2, -0.4, f"channel {c}", ha="center", fontsize=9)
        for r in range(oh):
            for q in range(ow):
                index = r * ow + q
                inset = 0.06 + 0.05 * (index % 4)
                _outline(left, x0, r, q, args, inset, colours[index])
    left.set_xlim(-0.2, channels * (padded + 1) - 0.8)
    left.set_ylim(padded + 0.2, -0.8)
    left.set_aspect("equal")
    left.set_axis_off()
    left.set_title(f"input {size}x{size}" + (f", padding {pad} (grey)" if pad else "")
                   + f"\nkernel {k}x{k}, stride {args.stride}, dilation {args.dilation}")
    _columns_panel(right, cols, colours, k, oh, ow)
    return figure


def _input_cells(axes, x, c, x0, pad, size, fontsize):
    """The padded input of channel c as numbered cells (padding grey), from column x0."""
    from matplotlib.patches import Rectangle
    padded = size + 2 * pad
    for h in range(padded):
        for w in range(padded):
            inside = pad <= h < pad + size and pad <= w < pad + size
            value = x[0, c, h - pad, w - pad] if inside else 0
            axes.add_patch(Rectangle((x0 + w, h), 1, 1, facecolor="white" if inside else "0.85",
                                     edgecolor="0.6"))
            axes.text(x0 + w + 0.5, h + 0.5, f"{value:.0f}", ha="center", va="center",
                      fontsize=fontsize, color="black" if inside else "0.5")


def _outline(axes, x0, r, q, args, inset, colour, fill=False):
    """Output (r, q)'s window: outlined whole, or a dilated one tap by tap (it skips the
    pixels between); ``fill`` shades it instead."""
    from matplotlib.patches import Rectangle
    k, d = args.kernel, args.dilation
    span = (k - 1) * d + 1
    taps = [(0, 0, span)] if d == 1 else [(i * d, j * d, 1) for i in range(k) for j in range(k)]
    for top, left_edge, side in taps:
        axes.add_patch(Rectangle((x0 + q * args.stride + left_edge + inset,
                                  r * args.stride + top + inset), side - 2 * inset,
                                 side - 2 * inset, fill=fill, lw=2, edgecolor=colour,
                                 facecolor=(*colour[:3], 0.45) if fill else "none"))


def _window_panel(axes, x, args, r, q, colour):
    """A small copy of the input (every channel side by side) with output (r, q)'s window."""
    size, pad = args.size, args.padding
    padded = size + 2 * pad
    channels = x.shape[1]
    for c in range(channels):
        x0 = c * (padded + 1)
        _input_cells(axes, x, c, x0, pad, size, fontsize=5)
        _outline(axes, x0, r, q, args, 0.04, colour, fill=True)
    axes.set_xlim(-0.1, channels * (padded + 1) - 0.9)
    axes.set_ylim(padded + 0.1, -0.1)
    axes.set_aspect("equal")
    axes.set_axis_off()
    axes.set_title(f"({r},{q})", fontsize=7, color=colour, pad=1)


def _columns_panel(right, cols, colours, k, oh, ow):
    """The column matrix, each column tinted with its window's colour."""
    from matplotlib.patches import Rectangle
    rows = len(cols)
    for index in range(cols.shape[1]):
        colour = colours[index]
        for row in range(rows):
            right.add_patch(Rectangle((index, row), 1, 1, facecolor=(*colour[:3], 0.3),
                                      edgecolor="0.6"))
            right.text(index + 0.5, row + 0.5, f"{cols[row, index]:.0f}", ha="center",
                       va="center", fontsize=9 if cols.shape[1] <= 20 else 7)
    right.set_xlim(0, cols.shape[1])
    right.set_ylim(rows, 0)
    right.set_aspect("equal")
    right.set_xticks(np.arange(cols.shape[1]) + 0.5,
                     [f"({r},{q})" for r in range(oh) for q in range(ow)], rotation=90, fontsize=8)
    for label, colour in zip(right.get_xticklabels(), colours):
        label.set_color(colour)
    taps = [divmod(row % (k * k), k) for row in range(rows)]
    right.set_yticks(np.arange(rows) + 0.5,
                     [f"c{row // (k * k)} ({i},{j})" for row, (i, j) in enumerate(taps)],
                     fontsize=8)
    right.tick_params(length=0)
    right.set_title(f"columns {cols.shape[0]} x {cols.shape[1]}\none column per output "
                    "(r, q), one row per tap")
    for spine in right.spines.values():
        spine.set_visible(False)


# ============================================================================ checkpoints
def load_model(path):
    """(model in eval mode, config, test set) from a checkpoint written by ``minicnn train``."""
    from minicnn.recipes import DATASETS, build_datasets, build_model, load_state
    state = load_state(path)
    config = dict(state.get("config") or {})
    if "model" not in config or "data" not in config:
        raise _usage_error(f"{path}: the checkpoint has no training configuration (it was not "
                           "written by `minicnn train`)")
    _, test_set = build_datasets(config, train=False)
    model = build_model(config, len(test_set.classes), DATASETS[config["data"]]["channels"])
    model.load_state_dict(state["model"])
    model.eval()
    return model, config, test_set


def _test_image(test_set, index):
    if not 0 <= index < len(test_set):
        raise _usage_error(f"--image must be a test image index in [0, {len(test_set)}), "
                           f"got {index}")
    image, label = test_set[index]
    return np.asarray(image, dtype=np.float32), int(label)


def _show_image(axes, image, title):
    """An input image (C, H, W), normalised, rescaled to [0, 1] for display."""
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
    if image.shape[0] == 3:
        axes.imshow(image.transpose(1, 2, 0), interpolation="nearest")
    else:
        axes.imshow(image[0], cmap="gray", interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_axis_off()


# ================================================================================== filters
def cmd_show_filters(args):
    _require_matplotlib(args.out)
    from minicnn.recipes import load_state
    state = load_state(args.checkpoint)
    name, weight = next(((name, value.numpy()) for name, value in state["model"].items()
                         if value.ndim == 4), (None, None))
    if weight is None:
        raise _usage_error(f"{args.checkpoint}: the model has no convolution (no 4-d weight)")
    filters, channels, kh, kw = weight.shape
    print(f"{name}: {filters} filters of {channels}x{kh}x{kw} from {args.checkpoint}")
    norms = np.sqrt((weight ** 2).sum(axis=(1, 2, 3)))
    for index in np.argsort(-norms):
        print(f"filter {index:3d}  L2 norm {norms[index]:.3f}  (channel 0 of {channels}):")
        for row in weight[index, 0]:
            print("    " + " ".join(f"{value:+.2f}" for value in row))
    if args.out:
        plotting.plot_filters(weight, args.out)
        print(f"saved {args.out}")
    return 0


# ============================================================================== activations
def _conv_layers(model):
    return [name for name, module in model.named_modules() if isinstance(module, mc.nn.Conv2d)]


def feature_maps(model, image, layers):
    """{layer name: its output (C, H, W)} for one image (C, H, W), the last call of each."""
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise _usage_error(f"no layer named {', '.join(unknown)}; the convolutions are "
                           f"{', '.join(_conv_layers(model))}")
    captured = {}
    handles = [modules[name].register_forward_hook(
        lambda module, inputs, output, name=name: captured.__setitem__(name, output.numpy()[0]))
        for name in layers]
    try:
        with mc.no_grad():
            logits = model(mc.tensor(image[None]))
    finally:
        for handle in handles:
            handle.remove()
    return captured, logits.numpy()[0]


def cmd_show_activations(args):
    _require_matplotlib(args.out)
    model, config, test_set = load_model(args.checkpoint)
    image, label = _test_image(test_set, args.image)
    if args.layers:
        layers = args.layers.split(",")
        maps, logits = feature_maps(model, image, layers)
    else:
        # the first three convolutions whose output is still an image (not 1x1)
        maps, logits = feature_maps(model, image, _conv_layers(model))
        layers = [name for name in maps if maps[name].shape[1] * maps[name].shape[2] > 1][:3]
    predicted = int(np.argmax(logits))
    print(f"test image {args.image} of {config['data']}: label {test_set.classes[label]}, "
          f"predicted {test_set.classes[predicted]}")
    for name in layers:
        fmap = maps[name]
        strength = fmap.reshape(len(fmap), -1).max(axis=1)
        strongest = int(np.argmax(strength))
        print(f"{name}: {fmap.shape[0]} maps of {fmap.shape[1]}x{fmap.shape[2]}, mean "
              f"{fmap.mean():+.3f}; strongest channel {strongest} (max {strength[strongest]:.3f}):")
        print("\n".join("    " + line for line in text_heat_map(np.maximum(fmap[strongest], 0))))
    if args.out:
        _save(_activations_figure(image, maps, layers, test_set.classes[label],
                                  test_set.classes[predicted], args.maps), args.out)
    return 0


def _activations_figure(image, maps, layers, label, predicted, count):
    plt = plotting.pyplot()
    columns = count
    figure, grid = plt.subplots(len(layers) + 1, columns, figsize=(1.3 * columns,
                                                                  1.5 * (len(layers) + 1)),
                                squeeze=False)
    for axes in grid.ravel():
        axes.set_axis_off()
    _show_image(grid[0, 0], image, f"input\n{label} (pred. {predicted})")
    for row, name in enumerate(layers, 1):
        fmap = maps[name]
        # the channels that respond most to this image, each on its own scale
        order = np.argsort(-fmap.reshape(len(fmap), -1).max(axis=1))[:columns]
        for column, channel in enumerate(order):
            grid[row, column].imshow(fmap[channel], cmap="viridis", interpolation="nearest")
            grid[row, column].set_title(f"{name} #{channel}" if column == 0 else f"#{channel}",
                                        fontsize=8)
    figure.suptitle("feature maps (the strongest channels of each layer)", fontsize=10)
    return figure


# ================================================================================= saliency
def saliency(model, image):
    """(saliency (H, W), logits): max over channels of |d score_c / d image| for the predicted
    class c (Simonyan et al. 2014, section 3.1)."""
    x = mc.tensor(image[None], requires_grad=True)
    logits = model(x)
    predicted = int(np.argmax(logits.numpy()[0]))
    pick = np.zeros(logits.shape, dtype=logits.dtype)
    pick[0, predicted] = 1
    (logits * Tensor(pick)).sum().backward()
    return np.abs(x.grad.numpy()[0]).max(axis=0), logits.numpy()[0]


def cmd_show_saliency(args):
    _require_matplotlib(args.out)
    model, config, test_set = load_model(args.checkpoint)
    image, label = _test_image(test_set, args.image)
    heat, logits = saliency(model, image)
    predicted = int(np.argmax(logits))
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    print(f"test image {args.image} of {config['data']}: label {test_set.classes[label]}, "
          f"predicted {test_set.classes[predicted]} ({100 * probabilities[predicted]:.1f}%)")
    top = np.argsort(-heat.ravel())[:5]
    print("largest |d score / d pixel| at (row, column): " + ", ".join(
        f"({i // heat.shape[1]}, {i % heat.shape[1]}) {heat.ravel()[i]:.3g}" for i in top))
    print("saliency map:")
    print("\n".join("    " + line for line in text_heat_map(heat)))
    if args.out:
        plt = plotting.pyplot()
        figure, (a, b, c) = plt.subplots(1, 3, figsize=(9, 3.4))
        _show_image(a, image, f"input: {test_set.classes[label]}")
        b.imshow(heat, cmap="hot", interpolation="nearest")
        b.set_title(f"saliency of '{test_set.classes[predicted]}'\n|d score / d pixel|",
                    fontsize=9)
        b.set_axis_off()
        _show_image(c, image, "overlay")
        c.imshow(heat, cmap="hot", alpha=0.5, interpolation="nearest")
        _save(figure, args.out)
    return 0


# ========================================================================= receptive fields
def receptive_field_rows(summary):
    """The summary rows where the receptive field or the jump changes (the convolutions and
    poolings), as (name, type, output shape, rf, jump)."""
    rows, previous = [], None
    for row in summary.rows:
        if row.receptive_field is None or len(row.output_shape) != 4:
            continue
        field = (row.receptive_field, row.jump)
        if field != previous:
            rows.append((row.name, row.type, row.output_shape[1:], row.receptive_field, row.jump))
            previous = field
    return rows


def effective_receptive_field(model, images, layer):
    """Luo et al. 2016: |d out[:, :, centre] / d input| summed over the input channels and
    averaged over the images (K, C, H, W), for the output of module ``layer``; shape (H, W)."""
    module = dict(model.named_modules())[layer]
    captured = []
    handle = module.register_forward_hook(lambda m, inputs, output: captured.append(output))
    try:
        x = mc.tensor(images, requires_grad=True)
        model(x)
    finally:
        handle.remove()
    out = captured[-1]
    pick = np.zeros(out.shape, dtype=out.dtype)
    pick[:, :, out.shape[2] // 2, out.shape[3] // 2] = 1
    (out * Tensor(pick)).sum().backward()
    return np.abs(x.grad.numpy()).sum(axis=1).mean(axis=0)


def cmd_show_receptive_field(args):
    _require_matplotlib(args.out)
    if args.model.endswith(".npz"):
        if args.input_size:
            raise _usage_error("--input-size is for a model name (random images); a checkpoint "
                               "is shown on its test images")
        model, config, test_set = load_model(args.model)
        name = config["model"]
        images = np.stack([test_set[i][0] for i in range(min(args.images, len(test_set)))])
        source = f"trained weights ({args.model}), {len(images)} test images"
    else:
        name = args.model
        try:
            model = mc.models.create(name)
        except ValueError as error:
            raise _usage_error(str(error)) from None
        model.eval()
        size = mc.models.input_size(name)
        if args.input_size:
            size = (size[0], args.input_size, args.input_size)
        images = np.random.default_rng(0).standard_normal((args.images, *size)).astype(np.float32)
        source = (f"untrained weights (pass a checkpoint for trained ones), {args.images} random "
                  f"{size[1]}x{size[2]} images")
    summary = mc.summary(model, images.shape[1:], model_name=name)
    rows = receptive_field_rows(summary)
    print(f"{name}: receptive field (RF) and jump of each layer's output, in input pixels")
    print(f"  {'layer':24s} {'type':22s} {'output':12s} {'RF':>5s} {'jump':>5s}")
    for layer, kind, shape, rf, jump in rows:
        print(f"  {layer:24s} {kind:22s} {'x'.join(map(str, shape)):12s} "
              f"{_axes(rf):>5s} {_axes(jump):>5s}")
    spatial = [row for row in rows if min(row[2][1:]) > 1]
    layer = args.layer or (spatial[-1][0] if spatial else rows[-1][0])
    if layer not in {row[0] for row in rows} & set(dict(model.named_modules())):
        raise _usage_error(f"--layer must be a layer of the table above, got {layer!r}")
    theoretical = next((row[3] for row in rows if row[0] == layer), None)
    erf = effective_receptive_field(model, images, layer)
    radius = _mass_radius(erf, 0.9)
    print(f"effective receptive field of the centre unit of {layer} ({source}):")
    print(f"  theoretical RF {_axes(theoretical) if theoretical else '?'}; 90% of the gradient "
          f"lies within a centred square of side {2 * radius + 1} px")
    print("\n".join("    " + line for line in text_heat_map(erf)))
    if args.out:
        _save(_receptive_field_figure(name, rows, erf, layer, theoretical, radius, source),
              args.out)
    return 0


def _axes(values):
    return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"


def _mass_radius(erf, fraction):
    """The smallest r such that the (2r+1)-square around the centre holds ``fraction`` of the
    total."""
    H, W = erf.shape
    total = erf.sum()
    for r in range(max(H, W)):
        window = erf[max(H // 2 - r, 0):H // 2 + r + 1, max(W // 2 - r, 0):W // 2 + r + 1]
        if window.sum() >= fraction * total:
            return r
    return max(H, W)


def _receptive_field_figure(name, rows, erf, layer, theoretical, radius, source):
    plt = plotting.pyplot()
    from matplotlib.patches import Rectangle
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True,
                                         gridspec_kw={"width_ratios": [3, 2]})
    positions = np.arange(len(rows))
    # a linear axis: each 3x3 conv adds 2 * jump to the field, so the growth is a straight line
    # within a stage and steepens where a stride doubles the jump (as drawn in the lecture)
    left.plot(positions, [row[3][0] for row in rows], marker="o", label="receptive field")
    left.plot(positions, [row[4][0] for row in rows], marker="s", label="jump")
    left.set_ylim(0, None)
    left.set_xticks(positions, [row[0] for row in rows], rotation=60, ha="right",
                    rotation_mode="anchor", fontsize=7)
    left.set_ylabel("input pixels (linear)")
    left.grid(alpha=0.3)
    left.legend()
    left.set_title(f"{name}: receptive field and jump per layer")
    H, W = erf.shape
    right.imshow(erf / erf.max(), cmap="magma", interpolation="nearest")
    if theoretical:
        rh, rw = theoretical
        right.add_patch(Rectangle((W // 2 - rw / 2, H // 2 - rh / 2), rw, rh, fill=False,
                                  edgecolor="cyan", lw=1.5, ls="--", label=f"theoretical RF {rh}"))
    right.add_patch(Rectangle((W // 2 - radius - 0.5, H // 2 - radius - 0.5), 2 * radius + 1,
                              2 * radius + 1, fill=False, edgecolor="lime", lw=1,
                              label=f"90% of the gradient ({2 * radius + 1} px)"))
    # show all of the theoretical field, which can reach far past the image (the point of the
    # figure: the effective field is a small part of it)
    reach = max(H, W, *(theoretical or (0, 0))) / 2 + 1
    right.set_xlim(W // 2 - reach, W // 2 + reach)
    right.set_ylim(H // 2 + reach, H // 2 - reach)
    right.add_patch(Rectangle((-0.5, -0.5), W, H, fill=False, edgecolor="0.5", lw=0.8))
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=7)
    right.set_title(f"effective receptive field of the centre unit of {layer}\n({source})",
                    fontsize=8)
    right.set_axis_off()
    return figure


# ======================================================================================= zoo
ZOO_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo.json")


def zoo_entries():
    """The published figures (zoo.json): one dict per model with 'model', 'top1' (%),
    'source' and 'note'."""
    with open(ZOO_FILE, encoding="utf-8") as file:
        return json.load(file)["models"]


def zoo_table(names=None):
    """[(entry, multiply-adds, params)] from minicnn's summary at each model's own input size,
    for the models named (default: all in zoo.json)."""
    entries = zoo_entries()
    if names:
        known = {entry["model"] for entry in entries}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise _usage_error(f"no published figures for {', '.join(unknown)}; the zoo has "
                               f"{', '.join(sorted(known))}")
        entries = [entry for entry in entries if entry["model"] in names]
    table = []
    for entry in entries:
        model = mc.models.create(entry["model"], **entry.get("options", {}))
        with mc.no_grad():
            summary = mc.summary(model, mc.models.input_size(entry["model"]))
        table.append((entry, summary.total_mult_adds, summary.total_params))
    return table


def cmd_zoo(args):
    _require_matplotlib(args.out)
    table = zoo_table(args.models.split(",") if args.models else None)
    print("ImageNet top-1 accuracy as published (test protocols differ: see the notes in "
          f"{ZOO_FILE}), against multiply-adds and parameters from minicnn's summary of one image "
          "at the model's input size")
    print(f"  {'model':18s} {'top-1':>6s} {'mult-adds':>10s} {'params':>8s}  source")
    for entry, mult_adds, params in table:
        print(f"  {entry['model']:18s} {entry['top1']:5.1f}% {mult_adds / 1e9:8.2f} G "
              f"{params / 1e6:6.1f} M  {entry['source']}")
    if args.out:
        _save(_zoo_figure(table), args.out)
    return 0


def _zoo_figure(table):
    plt = plotting.pyplot()
    figure, axes = plt.subplots(figsize=(9, 6))
    points = [(mult_adds / 1e9, entry["top1"]) for entry, mult_adds, _ in table]
    for (entry, _, params), point in zip(table, points):
        axes.scatter(*point, s=params / 1e5, alpha=0.45)
    axes.set_xscale("log")
    xs, ys = zip(*points)
    axes.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
    axes.set_ylim(min(ys) - 3, max(ys) + 3)
    figure.canvas.draw()
    _place_labels(axes, [entry["model"] + (" (2 GPUs)" if entry.get("options") else "")
                         for entry, _, _ in table], points)
    for params in (1e6, 25e6, 100e6):      # the bubble-size legend
        axes.scatter([], [], s=params / 1e5, color="0.6", alpha=0.45,
                     label=f"{params / 1e6:g} M parameters")
    axes.legend(loc="lower right", labelspacing=1.6, borderpad=1.0, fontsize=8,
                title="bubble area", title_fontsize=8)
    axes.set_xlabel("multiply-adds per image (G, log scale; minicnn summary)")
    axes.set_ylabel("ImageNet top-1 accuracy (%, as published)")
    axes.grid(alpha=0.3, which="both")
    axes.set_title("ImageNet: accuracy against cost")
    figure.text(0.01, 0.01, "top-1 as published by each model's paper (single- or multi-crop "
                "testing, see zoo.json); AlexNet's cost is the paper's two-GPU model (grouped "
                "conv2, conv4, conv5), whose accuracy is plotted", fontsize=7, color="0.4")
    return figure


def _place_labels(axes, labels, points, fontsize=8):
    """Label each point where the label overlaps no label placed before it: the first free
    spot of a few around the point, in display pixels (a greedy placement, points sorted by
    x)."""
    transform = axes.transData
    renderer = axes.figure.canvas.get_renderer()
    placed = []
    offsets = [(6, 4), (6, -12), (-6, 4), (-6, -12), (6, 14), (6, -22), (-6, 14), (-6, -22),
               (10, 24), (10, -32)]
    for index in sorted(range(len(points)), key=lambda i: points[i]):
        px, py = transform.transform(points[index])
        for dx, dy in offsets:
            text = axes.annotate(labels[index], points[index], xytext=(dx, dy),
                                 textcoords="offset points", fontsize=fontsize,
                                 ha="left" if dx > 0 else "right",
                                 arrowprops=None if abs(dy) < 20 else
                                 {"arrowstyle": "-", "color": "0.6", "lw": 0.6})
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            text.remove()
        else:
            placed.append(axes.annotate(labels[index], points[index], xytext=offsets[0],
                                        textcoords="offset points",
                                        fontsize=fontsize).get_window_extent(renderer))


# ====================================================================================== CLI
def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def add_parsers(commands):
    show = commands.add_parser("show", help="pictures: im2col, receptive fields, filters, "
                                            "activations, saliency",
                               description="Show what a CNN computes, in the terminal, and as a "
                                           "PNG with --out (needs matplotlib).")
    pictures = show.add_subparsers(dest="picture", metavar="PICTURE", required=True)

    def picture(name, run, help_text):
        parser = pictures.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--out", metavar="FILE.png", help="also draw the picture as a PNG")
        parser.set_defaults(run=run)
        return parser

    sub = picture("im2col", cmd_show_im2col,
                  "a small input, its windows and the column matrix, colour-matched")
    sub.add_argument("--size", type=_positive, default=3, help="H = W of the input (default 3)")
    sub.add_argument("--channels", type=_positive, default=1, help="default 1")
    sub.add_argument("--kernel", type=_positive, default=2, help="kh = kw (default 2)")
    sub.add_argument("--stride", type=_positive, default=1, help="default 1")
    sub.add_argument("--padding", type=int, default=0, help="default 0")
    sub.add_argument("--dilation", type=_positive, default=1, help="default 1")

    sub = picture("receptive-field", cmd_show_receptive_field,
                  "receptive field and jump per layer, and the effective receptive field")
    sub.add_argument("model", metavar="MODEL", help="a model name (untrained weights) or a "
                                                    "checkpoint .npz from `minicnn train`")
    sub.add_argument("--layer", help="the layer whose centre unit's effective receptive field "
                                     "is shown (default: the last with a spatial output)")
    sub.add_argument("--input-size", type=_positive, default=None, metavar="S",
                     help="H = W of the random images for a model name (default: the model's "
                          "own, e.g. 32 for CIFAR models); a larger input shows the whole "
                          "effective field of a deep layer instead of clipping it")
    sub.add_argument("--images", type=_positive, default=16,
                     help="images to average over (default 16)")

    sub = picture("filters", cmd_show_filters, "the first convolution's filters")
    sub.add_argument("checkpoint", metavar="CHECKPOINT", help=".npz from `minicnn train`")

    sub = picture("activations", cmd_show_activations,
                  "feature maps of chosen layers for one test image")
    sub.add_argument("checkpoint", metavar="CHECKPOINT", help=".npz from `minicnn train`")
    sub.add_argument("--image", type=int, default=0, help="index in the test set (default 0)")
    sub.add_argument("--layers", help="comma-separated layer names (default: the first three "
                                      "convolutions with a spatial output)")
    sub.add_argument("--maps", type=_positive, default=8,
                     help="feature maps per layer in the PNG (default 8)")

    sub = picture("saliency", cmd_show_saliency,
                  "the input gradient of the predicted class's score")
    sub.add_argument("checkpoint", metavar="CHECKPOINT", help=".npz from `minicnn train`")
    sub.add_argument("--image", type=int, default=0, help="index in the test set (default 0)")

    zoo = commands.add_parser(
        "zoo", help="published ImageNet top-1 against multiply-adds",
        description="The lecture chart: each model's ImageNet top-1 accuracy from its paper "
                    "(cited in minicnn/teach/zoo.json) against the multiply-adds and parameters "
                    "that minicnn's summary counts.")
    zoo.add_argument("--models", help="comma-separated subset (default: every model in the zoo)")
    zoo.add_argument("--out", metavar="FILE.png", help="also draw the chart as a PNG")
    zoo.set_defaults(run=cmd_zoo)
