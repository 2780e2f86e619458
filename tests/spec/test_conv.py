"""Convolution: the im2col / col2im reference kernels, conv2d and conv_transpose2d (checked
against the direct formula, central differences, each other and PyTorch), the tiles of images,
the 1x1 shortcut, argument checking, and the Conv2d / ConvTranspose2d layers."""

import math
import runpy
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn import backend
from minicnn.backend import ckernels, reference, tiling
from minicnn.backend.geometry import Window
from minicnn.backend.geometry import output_size as conv_output_size
from minicnn.backend.geometry import transpose_output_size
from minicnn.utils.gradcheck import gradcheck


@pytest.fixture(scope="module", autouse=True)
def small_tiles():
    """Tiles of 100 column entries: the small drawn batches then run in several tiles, of one
    image and of several, with a partial last tile (the default tile is 2^20 entries)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiling, "TILE_ELEMENTS", 100)
        yield


# ----- configurations drawn by hypothesis ---------------------------------------------------

@st.composite
def conv_configs(draw, transposed=False):
    """A small convolution: batch and channels down to 1, odd sizes, stride up to 3 (larger
    than a 1x1 or 2x2 kernel), padding, dilation, groups (depthwise when C/G = 1)."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_per_group = draw(st.integers(1, 2))
    f_per_group = draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    if not transposed:
        padding = draw(st.sampled_from([padding, padding, padding, "same", "valid"]))
        if padding == "same":
            stride = (1, 1)
    sizes = []
    for d in range(2):
        pad = 0 if isinstance(padding, str) else padding[d]
        smallest = max(1, dilation[d] * (kernel[d] - 1) + 1 - 2 * pad)
        sizes.append(draw(st.integers(smallest, smallest + 4)))
    config = dict(N=draw(st.integers(1, 2)), C=groups * c_per_group, F=groups * f_per_group,
                  H=sizes[0], W=sizes[1], kernel=kernel, stride=stride, padding=padding,
                  dilation=dilation, groups=groups, bias=draw(st.booleans()))
    if transposed:
        config["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1))
                                         for s, d in zip(stride, dilation))
        out = [transpose_output_size(size, k, s, p, o, d) for size, k, s, p, o, d in
               zip(sizes, kernel, stride, padding, config["output_padding"], dilation)]
        assume(min(out) >= 1)
    return config


def conv_inputs(config, rng, dtype=np.float64):
    """x, weight, bias Tensors (requiring grad) for a conv2d config."""
    kh, kw = config["kernel"]
    x = rng.standard_normal((config["N"], config["C"], config["H"], config["W"])).astype(dtype)
    w = rng.standard_normal((config["F"], config["C"] // config["groups"], kh, kw)).astype(dtype)
    b = rng.standard_normal(config["F"]).astype(dtype) if config["bias"] else None
    tensors = [mc.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    return tensors


def transpose_inputs(config, rng, dtype=np.float64):
    """x, weight, bias Tensors for a conv_transpose2d config: C in, F out."""
    kh, kw = config["kernel"]
    x = rng.standard_normal((config["N"], config["C"], config["H"], config["W"])).astype(dtype)
    w = rng.standard_normal((config["C"], config["F"] // config["groups"], kh, kw)).astype(dtype)
    b = rng.standard_normal(config["F"]).astype(dtype) if config["bias"] else None
    return [mc.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]


def run_conv(config, x, w, b):
    return F.conv2d(x, w, b, config["stride"], config["padding"], config["dilation"],
                    config["groups"])


def run_transpose(config, x, w, b):
    return F.conv_transpose2d(x, w, b, config["stride"], config["padding"],
                              config["output_padding"], config["groups"], config["dilation"])


# ----- direct implementations, written from the definitions ---------------------------------

def direct_im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = x.shape
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    cols = np.zeros((C * kh * kw, N * oh * ow), dtype=x.dtype)
    for c, i, j, n, y, x_ in np.ndindex(C, kh, kw, N, oh, ow):
        h, w = y * sh - ph + i * dh, x_ * sw - pw + j * dw
        if 0 <= h < H and 0 <= w < W:
            cols[(c * kh + i) * kw + j, (n * oh + y) * ow + x_] = x[n, c, h, w]
    return cols


def direct_conv2d(x, w, b, stride, padding, dilation, groups):
    """y[n, f, r, q] = b[f] + sum_{c,i,j} w[f, c, i, j] x_pad[n, g*C/G + c, r*s + i*d, q*s + j*d]"""
    N, C, H, W = x.shape
    F_, Cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    y = np.zeros((N, F_, oh, ow))
    for n, f, r, c in np.ndindex(N, F_, oh, ow):
        g = f // (F_ // groups)
        window = padded[n, g * Cg:(g + 1) * Cg, r * sh: r * sh + dh * (kh - 1) + 1: dh,
                        c * sw: c * sw + dw * (kw - 1) + 1: dw]
        y[n, f, r, c] = (window * w[f]).sum() + (0 if b is None else b[f])
    return y


def direct_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Each input pixel adds x[n, c, h, w] w[c, f, i, j] to out[n, g*F/G + f, h*s - p + i*d, ...]"""
    N, C, H, W = x.shape
    _, Fg, kh, kw = w.shape
    out_h = transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    out_w = transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    y = np.zeros((N, Fg * groups, out_h, out_w))
    for n, c, h, w_, f, i, j in np.ndindex(N, C, H, W, Fg, kh, kw):
        r = h * stride[0] - padding[0] + i * dilation[0]
        q = w_ * stride[1] - padding[1] + j * dilation[1]
        if 0 <= r < out_h and 0 <= q < out_w:
            y[n, (c // (C // groups)) * Fg + f, r, q] += x[n, c, h, w_] * w[c, f, i, j]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def explicit_padding(config):
    """The (top/left) padding and the input after any extra end padding of "same"."""
    padding = config["padding"]
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(config["kernel"], config["dilation"])]
        return tuple(t // 2 for t in totals), tuple(t % 2 for t in totals)
    return padding, (0, 0)


# ----- output sizes -------------------------------------------------------------------------

def test_conv_output_size_hand_computed_cases():
    assert conv_output_size(227, 11, 4) == 55                     # AlexNet conv1
    assert conv_output_size(224, 11, 4, 2) == 55                  # torchvision's AlexNet conv1
    assert conv_output_size(55, 3, 2) == 27                       # AlexNet's overlapping pool
    assert conv_output_size(224, 3, 1, 1) == 224                  # VGG "same" 3x3
    assert conv_output_size(224, 7, 2, 3) == 112                  # ResNet stem
    assert conv_output_size(32, 3, 2, 1) == 16
    assert conv_output_size(10, 3, 1, 0, 2) == 6                  # dilated: the kernel spans 5
    assert conv_output_size(5, 7) == -1                           # too small: callers reject it
    assert conv_output_size(112, 3, 2, 0, ceil_mode=True) == 56   # GoogLeNet's ceil-mode pool
    assert conv_output_size(112, 3, 2, 0) == 55
    # ceil mode drops a last window that would start inside the right padding
    assert conv_output_size(5, 2, 2, 1, ceil_mode=True) == 3
    assert transpose_output_size(5, 3, 2, 1, 1) == 10
    assert transpose_output_size(4, 4, 2, 1) == 8                 # DCGAN-style upsampling


# ----- the reference kernels ----------------------------------------------------------------

@st.composite
def im2col_args(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    H = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 7))
    W = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 7))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)
    return shape, (kh, kw, sh, sw, ph, pw, dh, dw)


@given(im2col_args(), st.sampled_from([np.float32, np.float64]))
def test_im2col_matches_its_definition(args, dtype):
    shape, geometry = args
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    cols = reference.im2col(x, *geometry)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, direct_im2col(x, *geometry))


@given(im2col_args(), st.sampled_from([np.float32, np.float64]))
def test_col2im_is_the_adjoint_of_im2col(args, dtype):
    shape, geometry = args
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    c = rng.standard_normal(reference.im2col(x, *geometry).shape)
    back = reference.col2im(c.astype(dtype), *shape, *geometry)
    assert back.shape == shape and back.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-4
    lhs = float((reference.im2col(x, *geometry) * c).sum())     # <im2col(x), c>
    rhs = float((x * back).sum())                              # <x, col2im(c)>
    assert abs(lhs - rhs) <= tolerance * (np.abs(x).sum() * np.abs(c).max() + 1)


# ----- conv2d and conv_transpose2d against the definition and each other --------------------

@settings(max_examples=100)
@given(conv_configs())
def test_conv2d_equals_direct_loop(config):
    x, w, b = conv_inputs(config, np.random.default_rng(3))
    padding, extra = explicit_padding(config)
    x_padded = np.pad(x.numpy(), ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    expected = direct_conv2d(x_padded, w.numpy(), None if b is None else b.numpy(),
                             config["stride"], padding, config["dilation"], config["groups"])
    np.testing.assert_allclose(run_conv(config, x, w, b).numpy(), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=100)
@given(conv_configs(transposed=True))
def test_conv_transpose2d_equals_direct_scatter(config):
    x, w, b = transpose_inputs(config, np.random.default_rng(4))
    expected = direct_conv_transpose2d(x.numpy(), w.numpy(), None if b is None else b.numpy(),
                                       config["stride"], config["padding"],
                                       config["output_padding"], config["groups"],
                                       config["dilation"])
    np.testing.assert_allclose(run_transpose(config, x, w, b).numpy(), expected,
                               rtol=1e-12, atol=1e-12)


@given(conv_configs(transposed=True))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(config):
    """<conv2d(u, W), v> == <u, conv_transpose2d(v, W)> for the same W, stride, padding and
    dilation; output_padding picks the size of u."""
    rng = np.random.default_rng(5)
    config = dict(config, bias=False)
    v, w, _ = transpose_inputs(config, rng)       # v: the conv's output, w: (C, F/G, kh, kw)
    u_shape = run_transpose(config, v, w, None).shape
    u = mc.tensor(rng.standard_normal(u_shape))
    conv_u = F.conv2d(u, w, None, config["stride"], config["padding"], config["dilation"],
                      config["groups"]).numpy()
    # with output_padding >= stride (dilation allows it) conv2d gives an extra row or column
    # that the transposed convolution never reads
    assert conv_u.shape[2] - v.shape[2] in (0, 1) and conv_u.shape[3] - v.shape[3] in (0, 1)
    lhs = float((conv_u[:, :, :v.shape[2], :v.shape[3]] * v.numpy()).sum())
    rhs = float((u.numpy() * run_transpose(config, v, w, None).numpy()).sum())
    assert lhs == pytest.approx(rhs, rel=1e-11, abs=1e-11)


def test_depthwise_conv2d_filters_each_channel_on_its_own():
    rng = np.random.default_rng(6)
    x = mc.tensor(rng.standard_normal((2, 3, 6, 5)))
    w = mc.tensor(rng.standard_normal((6, 1, 3, 3)))     # two filters per channel
    y = F.conv2d(x, w, padding=1, groups=3)
    for c in range(3):
        alone = F.conv2d(x[:, c:c + 1], w[2 * c:2 * c + 2], padding=1)
        np.testing.assert_allclose(y.numpy()[:, 2 * c:2 * c + 2], alone.numpy(), rtol=1e-13)


# ----- gradients ----------------------------------------------------------------------------

@settings(max_examples=100)
@given(conv_configs())
def test_conv2d_gradcheck(config):
    x, w, b = conv_inputs(config, np.random.default_rng(7))
    inputs = [x, w] + ([b] if b is not None else [])
    result = gradcheck(lambda *t: run_conv(config, *t, *([None] if len(t) == 2 else [])),
                       inputs)
    assert result, str(result)


@settings(max_examples=100)
@given(conv_configs(transposed=True))
def test_conv_transpose2d_gradcheck(config):
    x, w, b = transpose_inputs(config, np.random.default_rng(8))
    inputs = [x, w] + ([b] if b is not None else [])
    result = gradcheck(lambda *t: run_transpose(config, *t, *([None] if len(t) == 2 else [])),
                       inputs)
    assert result, str(result)


def test_gradcheck_through_two_stacked_convolutions():
    """The first conv's gradients only come out right if the second passes back a right dX."""
    rng = np.random.default_rng(9)
    x = mc.tensor(rng.standard_normal((2, 2, 7, 6)), requires_grad=True)
    w1 = mc.tensor(rng.standard_normal((4, 2, 3, 3)), requires_grad=True)
    w2 = mc.tensor(rng.standard_normal((4, 2, 2, 3)), requires_grad=True)
    b2 = mc.tensor(rng.standard_normal(4), requires_grad=True)

    def net(x, w1, w2, b2):
        hidden = F.conv2d(x, w1, padding=1, stride=(2, 1))
        return F.conv2d(hidden, w2, b2, padding="same", dilation=(1, 2), groups=2)

    result = gradcheck(net, [x, w1, w2, b2])
    assert result, str(result)


@pytest.mark.parametrize("kernel, padding, size", [
    (3, 1, 6),      # C/G*kh*kw = 18 < oh*ow = 36: dW summed from one product per image
    (5, 0, 6),      # C/G*kh*kw = 50 >= oh*ow = 4: dW from one product over all positions
])
def test_weight_gradient_in_both_layouts(kernel, padding, size):
    rng = np.random.default_rng(15)
    x = mc.tensor(rng.standard_normal((3, 4, size, size)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((6, 2, kernel, kernel)), requires_grad=True)
    # gradients here are of order 10: atol covers the roundoff of elements that nearly cancel
    result = gradcheck(lambda x, w: F.conv2d(x, w, padding=padding, groups=2), [x, w], atol=1e-7)
    assert result, str(result)


def test_unbatched_input_gives_unbatched_output_and_gradients():
    rng = np.random.default_rng(10)
    x = mc.tensor(rng.standard_normal((3, 6, 5)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (4, 6, 5)
    batched = F.conv2d(x.unsqueeze(0), w, padding=1)
    np.testing.assert_array_equal(y.numpy(), batched.numpy()[0])
    assert gradcheck(lambda x, w: F.conv2d(x, w, padding=1), [x, w])
    wt = mc.tensor(rng.standard_normal((3, 2, 2, 2)), requires_grad=True)
    assert F.conv_transpose2d(x, wt, stride=2).shape == (2, 12, 10)
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, stride=2), [x, wt])


@pytest.mark.parametrize("kernel", [1, 3])
def test_non_contiguous_input_and_upstream_gradient(kernel, kernel_set):
    """A strided, transposed view as input, and an output gradient that arrives transposed."""
    rng = np.random.default_rng(16)
    base = mc.tensor(rng.standard_normal((2, 6, 9, 8)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((4, 3, kernel, kernel)), requires_grad=True)

    def net(base, w):
        x = base[:, ::2, ::2, :].permute(0, 1, 3, 2)
        assert not x.array.flags.c_contiguous
        return F.conv2d(x, w, padding=kernel // 2).permute(0, 3, 1, 2)

    view = base.numpy()[:, ::2, ::2, :].transpose(0, 1, 3, 2)
    expected = F.conv2d(mc.tensor(np.ascontiguousarray(view)), w, padding=kernel // 2)
    np.testing.assert_array_equal(net(base, w).numpy(), expected.numpy().transpose(0, 3, 1, 2))
    result = gradcheck(net, [base, w])
    assert result, str(result)


def test_float32_stays_float32():
    x = mc.randn(2, 3, 5, 5, requires_grad=True)
    w = mc.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, mc.randn(4))
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


# ----- workspace chunking and the 1x1 shortcut ----------------------------------------------

@contextmanager
def workspace(nbytes):
    """Run a block under another workspace limit (None: no limit)."""
    previous = backend.set_workspace_limit(nbytes)
    try:
        yield
    finally:
        backend.set_workspace_limit(previous)


def spy_on_kernels(monkeypatch):
    """Record the shape of the first argument of every im2col / col2im call the reference's conv
    family makes."""
    calls = {"im2col": [], "col2im": []}

    def spy(name, kernel):
        def run(*args):
            calls[name].append(args[0].shape)
            return kernel(*args)
        return run

    for name in calls:
        monkeypatch.setattr(reference, name, spy(name, getattr(reference, name)))
    return calls


KERNEL_SETS = ["numpy"] + (["c"] if ckernels.available() else [])


@pytest.fixture(params=KERNEL_SETS)
def kernel_set(request):
    with mc.backend(request.param):
        yield request.param


def forward_backward(fn, inputs, grad_seed=11):
    x, w, b = (mc.tensor(a.numpy(), requires_grad=True) for a in inputs)
    y = fn(x, w, b)
    y.backward(np.random.default_rng(grad_seed).standard_normal(y.shape).astype(y.dtype))
    return y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()


@mc.backend("numpy")  # the C set builds no column matrix to tile (csrc/conv2d_gemm.c)
def test_a_limit_above_a_tile_changes_nothing_and_one_below_shrinks_the_tiles(monkeypatch):
    rng = np.random.default_rng(12)
    inputs = [mc.tensor(rng.standard_normal(shape)) for shape in ((5, 4, 9, 8), (6, 2, 3, 3), (6,))]

    def conv(x, w, b):
        return F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)

    # two images a tile: their columns are (C*kh*kw, 2*oh*ow) = (4*9, 2 * 9*4), float64
    tile_elements = 4 * 9 * 2 * 9 * 4
    monkeypatch.setattr(tiling, "TILE_ELEMENTS", tile_elements)
    calls = spy_on_kernels(monkeypatch)
    results = []
    for limit in (None, 8 * tile_elements, 8 * tile_elements - 1, 1):
        with workspace(limit):
            results.append(forward_backward(conv, inputs))
    images_per_im2col = [shape[0] for shape in calls["im2col"]]
    # forward, then dW, per limit: tiles of two images, until the limit is below one tile
    assert images_per_im2col == [2, 2, 1] * 4 + [1] * 20
    unlimited, at_a_tile, below_a_tile, one_byte = results
    for a, b in zip(unlimited, at_a_tile):
        np.testing.assert_array_equal(a, b)
    for a, b, c in zip(unlimited, below_a_tile, one_byte):
        np.testing.assert_array_equal(b, c)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@settings(max_examples=100)
@given(st.one_of(conv_configs().map(lambda config: (config, False)),
                 conv_configs(transposed=True).map(lambda config: (config, True))),
       st.integers(1, 5), st.sampled_from([1, 100, 1000]),
       st.sampled_from([np.float32, np.float64]))
@mc.backend("numpy")
def test_a_batch_gives_the_results_of_its_tiles_run_one_by_one(drawn, N, tile_elements, dtype):
    """y and dX bit for bit; dW is the sum of the tiles' dW in tile order, so bit for bit too.
    The forward pass and both gradients run on the same tiles."""
    config, transposed = drawn
    config = dict(config, N=N)
    make_inputs, run = (transpose_inputs, run_transpose) if transposed else (conv_inputs, run_conv)
    x, w, b = make_inputs(config, np.random.default_rng(17), dtype)
    tilings, tiles = [], tiling.tiles

    def recording_tiles(*args):
        tilings.append(list(tiles(*args)))
        return tilings[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tiling, "TILE_ELEMENTS", tile_elements)
        patch.setattr(tiling, "tiles", recording_tiles)
        y = run(config, x, w, b)
        grad_y = np.random.default_rng(18).standard_normal(y.shape).astype(dtype)
        y.backward(grad_y)
        assert len(tilings) == 3 and tilings[0] == tilings[1] == tilings[2]
        grad_w = np.zeros_like(w.numpy())
        for start, stop in tilings[0]:
            x_tile = mc.tensor(x.numpy()[start:stop], requires_grad=True)
            w_tile = mc.tensor(w.numpy(), requires_grad=True)
            y_tile = run(config, x_tile, w_tile, b)
            y_tile.backward(grad_y[start:stop])
            np.testing.assert_array_equal(y_tile.numpy(), y.numpy()[start:stop])
            np.testing.assert_array_equal(x_tile.grad.numpy(), x.grad.numpy()[start:stop])
            grad_w += w_tile.grad.numpy()
    np.testing.assert_array_equal(grad_w, w.grad.numpy())


def test_empty_batch_gives_empty_output():
    x = mc.tensor(np.zeros((0, 3, 5, 5)), requires_grad=True)
    w = mc.tensor(np.ones((4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5) and not w.grad.numpy().any()
    assert F.conv_transpose2d(mc.tensor(np.zeros((0, 4, 5, 5))), w).shape == (0, 3, 7, 7)


def test_workspace_limit_is_checked():
    with pytest.raises(ValueError, match="nbytes"):
        backend.set_workspace_limit(0)
    with pytest.raises(ValueError, match="nbytes"):
        backend.set_workspace_limit(1.5)


@pytest.mark.parametrize("groups", [1, 2])
@mc.backend("numpy")  # the reference's shortcut: the C set has no im2col to skip
def test_pointwise_shortcut_equals_general_path(groups, monkeypatch):
    rng = np.random.default_rng(14)
    inputs = [mc.tensor(rng.standard_normal(shape))
              for shape in ((3, 4, 5, 7), (6, 4 // groups, 1, 1), (6,))]

    def pointwise(x, w, b):
        return F.conv2d(x, w, b, groups=groups)

    calls = spy_on_kernels(monkeypatch)
    shortcut = forward_backward(pointwise, inputs)
    assert calls == {"im2col": [], "col2im": []}
    monkeypatch.setattr(Window, "is_pointwise", property(lambda self: False))
    general = forward_backward(pointwise, inputs)
    assert calls["col2im"] and len(calls["im2col"]) == 2 * len(calls["col2im"])   # per tile
    for got, expected in zip(shortcut, general):
        np.testing.assert_array_equal(got, expected)


# ----- bad arguments ------------------------------------------------------------------------

def _tensor(*shape, dtype=np.float64):
    return mc.tensor(np.ones(shape, dtype=dtype))


CONV2D_ERRORS = [
    (dict(input=_tensor(3, 4)), ValueError, "input"),
    (dict(weight=_tensor(4, 3, 3)), ValueError, "weight"),
    (dict(weight=_tensor(4, 2, 3, 3)), ValueError, "channels"),
    (dict(weight=_tensor(5, 1, 3, 3), groups=3), ValueError, "groups"),
    (dict(groups=0), ValueError, "groups"),
    (dict(bias=_tensor(5)), ValueError, "bias"),
    (dict(bias=np.ones(4)), TypeError, "bias"),
    (dict(input=np.ones((2, 3, 8, 8))), TypeError, "input"),
    (dict(weight=_tensor(4, 3, 3, 3, dtype=np.float32)), TypeError, "weight"),
    (dict(bias=_tensor(4, dtype=np.float32)), TypeError, "bias"),
    (dict(input=mc.tensor(np.ones((2, 3, 8, 8), dtype=np.int64))), TypeError, "input"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, 2, 3)), ValueError, "stride"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding="same", stride=2), ValueError, "same"),
    (dict(weight=_tensor(4, 3, 9, 3)), ValueError, "too small"),
    (dict(weight=_tensor(4, 3, 5, 3), dilation=3, padding=1), ValueError, "too small"),
]


@pytest.mark.parametrize("change, error, message", CONV2D_ERRORS)
def test_conv2d_rejects_bad_arguments_before_any_kernel_runs(change, error, message, monkeypatch):
    monkeypatch.setattr(backend, "kernels_for", lambda array: pytest.fail("a kernel ran"))
    arguments = dict(input=_tensor(2, 3, 8, 8), weight=_tensor(4, 3, 3, 3), bias=None)
    arguments.update(change)
    with pytest.raises(error, match=message):
        F.conv2d(**arguments)


CONV_TRANSPOSE2D_ERRORS = [
    (dict(weight=_tensor(4, 2, 3, 3)), ValueError, "channels"),
    (dict(weight=_tensor(3, 2, 3, 3), groups=2), ValueError, "groups"),
    (dict(bias=_tensor(3)), ValueError, "bias"),
    (dict(output_padding=2, stride=2), ValueError, "output_padding"),
    (dict(output_padding=-1), ValueError, "output_padding"),
    (dict(padding=3, weight=_tensor(3, 2, 1, 1)), ValueError, "too small"),
    (dict(stride=(0, 1)), ValueError, "stride"),
]


@pytest.mark.parametrize("change, error, message", CONV_TRANSPOSE2D_ERRORS)
def test_conv_transpose2d_rejects_bad_arguments(change, error, message, monkeypatch):
    monkeypatch.setattr(backend, "kernels_for", lambda array: pytest.fail("a kernel ran"))
    arguments = dict(input=_tensor(2, 3, 4, 4), weight=_tensor(3, 2, 3, 3), bias=None)
    arguments.update(change)
    with pytest.raises(error, match=message):
        F.conv_transpose2d(**arguments)


def test_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="in_channels"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="same"):   # checked once, by F.conv2d, as it runs
        nn.Conv2d(3, 4, 3, stride=2, padding="same")(mc.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, (3, 0))
    with pytest.raises(ValueError, match="out_channels"):
        nn.ConvTranspose2d(3, 0, 3)


# ----- layers -------------------------------------------------------------------------------

def test_conv2d_layer_parameters_in_pytorch_order_and_shapes():
    layer = nn.Conv2d(6, 12, (3, 5), groups=3)
    assert [(name, p.shape) for name, p in layer.named_parameters()] == [
        ("weight", (12, 2, 3, 5)), ("bias", (12,))]
    assert list(nn.Conv2d(3, 4, 3, bias=False).state_dict()) == ["weight"]
    transposed = nn.ConvTranspose2d(6, 12, 3, groups=3)
    assert [(name, p.shape) for name, p in transposed.named_parameters()] == [
        ("weight", (6, 4, 3, 3)), ("bias", (12,))]


def test_conv2d_layer_default_init_is_uniform_within_one_over_sqrt_fan_in():
    mc.manual_seed(0)
    layer = nn.Conv2d(16, 64, 3)
    bound = 1 / math.sqrt(16 * 9)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert weight.dtype == np.float32
    assert 0.98 * bound < np.abs(weight).max() <= bound
    assert 0.9 * bound < np.abs(bias).max() <= bound
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.02 * bound   # U(-a, a) has std a/sqrt(3)


def test_layer_repr_matches_pytorch_text():
    assert repr(nn.Conv2d(3, 16, 3, padding=1, bias=False)) == (
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)")
    assert repr(nn.Conv2d(3, 64, 11, stride=4, padding=2)) == (
        "Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))")
    assert repr(nn.Conv2d(8, 8, 3, padding="same", dilation=2, groups=8)) == (
        "Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), groups=8)")
    assert repr(nn.ConvTranspose2d(3, 16, 3, stride=2, padding=1, output_padding=1)) == (
        "ConvTranspose2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
        "output_padding=(1, 1))")


def test_layers_forward_shapes_and_output_size():
    assert nn.Conv2d(3, 64, 11, stride=4)(mc.randn(1, 3, 227, 227)).shape == (1, 64, 55, 55)
    assert nn.Conv2d(3, 5, 3, padding=1)(mc.randn(3, 7, 9)).shape == (5, 7, 9)
    up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1)
    x = mc.randn(1, 4, 5, 5)
    assert up(x).shape == (1, 3, 9, 9)
    assert up(x, output_size=[10, 10]).shape == (1, 3, 10, 10)
    assert up(x, output_size=[1, 3, 9, 10]).shape == (1, 3, 9, 10)
    with pytest.raises(ValueError, match="output size"):
        up(x, output_size=(11, 11))


def test_walkthrough_example_runs_and_agrees(capsys):
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "conv_walkthrough.py"),
                   run_name="__main__")
    printed = capsys.readouterr().out
    assert printed.count(" ok\n") == 5 and "False" not in printed and "FAILED" not in printed


def test_conv2d_layer_trains_its_parameters():
    layer = nn.Conv2d(2, 3, 3, padding=1)
    layer(mc.randn(2, 2, 5, 5)).sum().backward()
    assert layer.weight.grad.shape == (3, 2, 3, 3) and layer.bias.grad.shape == (3,)
    np.testing.assert_allclose(layer.bias.grad.numpy(), np.full(3, 2 * 5 * 5))
