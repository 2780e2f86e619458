"""A convolution's forward and backward pass, step by step, on a tiny input.

    python examples/conv_walkthrough.py

1. im2col lays every 2x2 receptive field of a 1-channel 4x4 image out as a column;
2. the convolution is then one matrix product, W @ cols;
3. backward: dW = dY @ cols^T, dX = col2im(W^T @ dY), db = sum of dY, compared with autograd;
4. dX is a transposed convolution of dY;
5. gradcheck compares every gradient with central differences and prints the relative errors.
"""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.backend import reference
from minicnn.utils.gradcheck import gradcheck

np.set_printoptions(precision=3, suppress=True, linewidth=110)


def show(title, array):
    print(f"\n{title}  shape {array.shape}")
    print(array)


def main():
    # one image, one channel, 4x4; two 2x2 filters; stride 1, no padding -> 3x3 outputs
    N, C, H, W = 1, 1, 4, 4
    F_out, kh, kw = 2, 2, 2
    x = np.arange(N * C * H * W, dtype=np.float64).reshape(N, C, H, W)
    weight = np.array([[[[1.0, 0.0], [0.0, -1.0]]],      # a diagonal difference
                       [[[0.25, 0.25], [0.25, 0.25]]]])  # a 2x2 average
    bias = np.array([0.0, 1.0])
    geometry = (kh, kw, 1, 1, 0, 0, 1, 1)                # kh, kw, stride, padding, dilation
    show("input x (N, C, H, W)", x)
    show("weight W (F, C, kh, kw)", weight)

    print("\n--- 1. im2col: column (n*oh + y)*ow + x holds the 2x2 patch under output (y, x)")
    cols = reference.im2col(x, *geometry)
    show("cols (C*kh*kw, N*oh*ow)", cols)

    print("\n--- 2. forward: one matrix product, then add the bias and reshape to (N, F, oh, ow)")
    w_matrix = weight.reshape(F_out, -1)
    show("W as a matrix (F, C*kh*kw)", w_matrix)
    y_matrix = w_matrix @ cols + bias[:, None]
    show("Y = W @ cols + b  (F, N*oh*ow)", y_matrix)
    y = y_matrix.reshape(F_out, N, 3, 3).transpose(1, 0, 2, 3)
    direct = (x[0, 0, 1:3, 0:2] * weight[0, 0]).sum() + bias[0]
    print(f"\ncheck one output by hand: y[0, 0, 1, 0] = sum(x[0, 0, 1:3, 0:2] * W[0, 0]) + b[0] "
          f"= {direct:.3f}; from the GEMM: {y[0, 0, 1, 0]:.3f}")

    xt = mc.tensor(x, requires_grad=True)
    wt = mc.tensor(weight, requires_grad=True)
    bt = mc.tensor(bias, requires_grad=True)
    yt = F.conv2d(xt, wt, bt)
    print(f"F.conv2d gives the same output: {np.allclose(yt.numpy(), y)}")

    print("\n--- 3. backward, for an upstream gradient dY of the output's shape")
    grad_y = np.random.default_rng(0).standard_normal(y.shape)
    dy_matrix = grad_y.transpose(1, 0, 2, 3).reshape(F_out, -1)
    show("dY as a matrix (F, N*oh*ow)", dy_matrix)
    grad_w = (dy_matrix @ cols.T).reshape(weight.shape)
    show("dW = dY @ cols^T  (F, C*kh*kw) -> (F, C, kh, kw)", grad_w)
    grad_cols = w_matrix.T @ dy_matrix
    show("W^T @ dY  (C*kh*kw, N*oh*ow): the gradient of each column entry", grad_cols)
    grad_x = reference.col2im(grad_cols, N, C, H, W, *geometry)
    show("dX = col2im(W^T @ dY): each entry added back onto the pixel it was read from", grad_x)
    grad_b = grad_y.sum(axis=(0, 2, 3))
    show("db = sum of dY over N, oh, ow", grad_b)

    yt.backward(grad_y)
    print("\nautograd (F.conv2d then backward) agrees:",
          f"dX {np.allclose(xt.grad.numpy(), grad_x)},",
          f"dW {np.allclose(wt.grad.numpy(), grad_w)},",
          f"db {np.allclose(bt.grad.numpy(), grad_b)}")

    print("\n--- 4. dX is the transposed convolution of dY with the same weight array")
    # conv_transpose2d reads its weight as (C_in, C_out, kh, kw): the conv's (F, C, kh, kw)
    transposed = F.conv_transpose2d(mc.tensor(grad_y), mc.tensor(weight))
    print(f"conv_transpose2d(dY, W) == dX: {np.allclose(transposed.numpy(), grad_x)}")

    print("\n--- 5. gradcheck: central differences against backprop (random upstream gradient)")
    rng = np.random.default_rng(1)
    cases = {
        "2x2, stride 1, no padding (the example above)": dict(),
        "3x3, stride 2, padding 1": dict(stride=2, padding=1),
        "3x3, dilation 2, padding 'same'": dict(padding="same", dilation=2),
        "grouped, 2 groups": dict(padding=1, groups=2),
    }
    for name, options in cases.items():
        groups = options.get("groups", 1)
        size = 2 if name.startswith("2x2") else 3
        inputs = [mc.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True),
                  mc.tensor(rng.standard_normal((4, 2 // groups, size, size)), requires_grad=True),
                  mc.tensor(rng.standard_normal(4), requires_grad=True)]
        result = gradcheck(lambda x, w, b: F.conv2d(x, w, b, **options), inputs)
        errors = ", ".join(f"{label} {check.max_rel_error:.1e}"
                           for label, check in zip(("dX", "dW", "db"), result.inputs))
        print(f"{'conv2d ' + name:<62} relative error: {errors}  {'ok' if result else 'FAILED'}")
    inputs = [mc.tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True),
              mc.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True),
              mc.tensor(rng.standard_normal(3), requires_grad=True)]
    result = gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                          output_padding=1), inputs)
    errors = ", ".join(f"{label} {check.max_rel_error:.1e}"
                       for label, check in zip(("dX", "dW", "db"), result.inputs))
    name = "conv_transpose2d 3x3, stride 2, padding 1, output_padding 1"
    print(f"{name:<62} relative error: {errors}  {'ok' if result else 'FAILED'}")


if __name__ == "__main__":
    main()
