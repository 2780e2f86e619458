"""The convolution family as tiled matrix products around an im2col / col2im: how the NumPy
reference (``reference.conv2d_*``) and the CUDA set (``cuda.conv2d_*``, on cuBLAS around its own
im2col / col2im kernels) run a batch. The math is the reference's:

    forward          y  = W @ im2col(x)       per group (F/G, C/G*kh*kw) @ (C/G*kh*kw, N*oh*ow)
    backward_input   dX = col2im(W^T @ dY)    per group (C/G*kh*kw, F/G) @ (F/G, N*oh*ow)
    backward_weight  dW = dY @ im2col(x)^T    per group (F/G, N*oh*ow) @ (N*oh*ow, C/G*kh*kw)

with x (N, C, H, W), weight (F, C/G, kh, kw) for G groups, y (N, F, oh, ow); this module decides
how much of the batch each product takes.
"""

import numpy as np

from minicnn.backend.arrays import get_array_module, get_workspace_limit

# The batch goes through in tiles of T images whose column matrix, (C*kh*kw, T*oh*ow), has about
# TILE_ELEMENTS = 2^20 entries (at least one image), so that each product is one BLAS call per
# group and tile: large enough for BLAS to run near its peak and to synchronise its threads
# rarely (one small product per image was 2-10% slower on 2 quiet cores, 25% under load), small
# enough that a tile's columns are still in cache when the product reads them, and a fixed
# scratch memory. The tiles start at image 0 and their size depends only on the layer's shape,
# so every BLAS call gets the same operands however a computation is split: a batch gives the
# results of its tiles run one by one, bit for bit (a BLAS product's rounding of a column depends
# on the matrix's other sizes). A workspace limit below one tile (backend.set_workspace_limit)
# makes the tiles smaller, down to one image; the results then change only by rounding.
# A 1x1, stride-1, unpadded convolution needs no im2col: its columns are the input itself,
# channels first. The C set replaces the whole family with its fused GEMM (csrc/conv2d_gemm.c); the
# CUDA set runs these tiled products (cuBLAS) around its own im2col / col2im kernels, in tiles
# of GPU_TILE_ELEMENTS: a GPU needs large products to fill its SMs (ResNet-20's 16->16 conv at
# batch 128 is 1 cuBLAS call a pass, not 19), so there the workspace limit (256 MiB) decides.

TILE_ELEMENTS = 2 ** 20   # column-matrix entries per tile: of 2^18 ... 2^22 and of 4096 or 8192
                          # columns a tile, the fastest for ResNet-20's convs on 2 cores
GPU_TILE_ELEMENTS = 2 ** 26


def tiles(N, rows, L, x):
    """Ranges [start, stop) of the images of batch ``x``, T at a time from image 0, with
    T = TILE_ELEMENTS // (rows * L) (GPU_TILE_ELEMENTS for a GPU array): the images whose column
    matrix, (rows, T*L), has about that many entries, or fewer under a lower workspace limit (at
    least one image)."""
    elements = TILE_ELEMENTS if get_array_module(x) is np else GPU_TILE_ELEMENTS
    limit = get_workspace_limit()
    if limit is not None:
        elements = min(elements, limit // x.itemsize)
    per_tile = max(1, elements // (rows * L))
    for start in range(0, N, per_tile):
        yield start, min(N, start + per_tile)


def _channels_first(a):
    """(n, C, h, w) -> (C, n*h*w), the channels as rows, the images side by side (a copy when
    n > 1)."""
    return a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def _columns(im2col, x, window):
    """im2col(x) (C*kh*kw, n*oh*ow); a pointwise conv's columns are x itself, channels first."""
    return _channels_first(x) if window.is_pointwise else im2col(x, *window)


def conv2d_forward(x, weight, groups, window, im2col):
    """y = W @ im2col(x) per group and tile: x (N, C, H, W), weight (F, C/G, kh, kw) ->
    y (N, F, oh, ow), no bias; ``im2col`` has the reference's arguments."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    F = weight.shape[0]
    oh, ow = window.output_hw(H, W)
    w = weight.reshape(groups, F // groups, -1)                  # (G, F/G, C/G*kh*kw)
    y = xp.empty((N, F, oh, ow), dtype=x.dtype)
    for start, stop in tiles(N, C * window.kh * window.kw, oh * ow, x):
        n = stop - start
        cols = _columns(im2col, x[start:stop], window).reshape(groups, -1, n * oh * ow)
        y[start:stop] = xp.matmul(w, cols).reshape(F, n, oh, ow).transpose(1, 0, 2, 3)
    return y


def conv2d_backward_input(grad_y, weight, groups, window, input_hw, col2im):
    """dX = col2im(W^T @ dY) per group and tile: grad_y (N, F, oh, ow), weight (F, C/G, kh, kw),
    input_hw = (H, W) -> grad_x (N, C, H, W); ``col2im`` has the reference's arguments."""
    xp = get_array_module(grad_y)
    N, F, oh, ow = grad_y.shape
    H, W = input_hw
    C = weight.shape[1] * groups
    w_t = weight.reshape(groups, F // groups, -1).transpose(0, 2, 1)   # (G, C/G*kh*kw, F/G)
    dx = xp.empty((N, C, H, W), dtype=grad_y.dtype)
    for start, stop in tiles(N, C * window.kh * window.kw, oh * ow, grad_y):
        n = stop - start
        dy = _channels_first(grad_y[start:stop]).reshape(groups, F // groups, -1)
        dcols = xp.matmul(w_t, dy).reshape(-1, n * oh * ow)          # (C*kh*kw, n*oh*ow)
        if window.is_pointwise:   # the columns are the image itself, channels first
            dx[start:stop] = dcols.reshape(C, n, H, W).transpose(1, 0, 2, 3)
        else:
            dx[start:stop] = col2im(dcols, n, C, H, W, *window)
    return dx


def conv2d_backward_weight(x, grad_y, groups, window, im2col):
    """dW = dY @ im2col(x)^T summed over the tiles: x (N, C, H, W), grad_y (N, F, oh, ow) ->
    grad_weight (F, C/G, kh, kw)."""
    xp = get_array_module(x)
    N, C = x.shape[:2]
    F, oh, ow = grad_y.shape[1:]
    dw = xp.zeros((groups, F // groups, C // groups * window.kh * window.kw), dtype=x.dtype)
    for start, stop in tiles(N, C * window.kh * window.kw, oh * ow, x):
        cols = _columns(im2col, x[start:stop], window).reshape(groups, dw.shape[2], -1)
        dy = _channels_first(grad_y[start:stop]).reshape(groups, F // groups, -1)
        dw += xp.matmul(dy, cols.transpose(0, 2, 1))
    return dw.reshape(F, C // groups, window.kh, window.kw)
