"""The contract of the compiled kernel sets, written once: for each kernel that the C set
(``ckernels.py``) and the CUDA set (``cuda.py``) both launch, the checks of its arguments, the
shapes of its outputs and the arguments of its launch, in the order that ``csrc/`` and
``kernels/`` declare them (arrays, then sizes as int64, flags as int32, reals as float64).

A kernel set subclasses ``Kernels`` with what is its own: ``xp`` (the array module its arrays
belong to), ``empty`` (where an output comes from: a buffer pool, the GPU's memory) and
``launch`` (how a kernel runs: a C call, a CUDA grid), and takes the kernels of ``KERNELS``
and ``FROM_REFERENCE`` from ``bound()``. The checks are built of ``validate.py``'s; a failed one
raises a TypeError / ValueError / IndexError naming the argument before any pointer crosses into
C or CUDA. The
convolution family's checks are here too (``conv2d_operands`` ...), but each set runs its own
algorithm; what else a set does its own way (a max-pool backward's index check, the C set's
GEMM) stays in its module.
"""

import numpy as np

from minicnn.backend import reference
from minicnn.backend import validate as check

KERNELS = ("relu_forward", "relu_backward", "gelu_forward", "gelu_backward",
           "softmax_cross_entropy_forward",
           "softmax_cross_entropy_backward", "max_pool2d_forward", "avg_pool2d_forward",
           "avg_pool2d_backward", "batch_norm_forward", "batch_norm_backward", "lrn_forward",
           "lrn_backward", "dropout_apply", "sgd_step", "adam_step", "rmsprop_step")

# The kernels both compiled sets take from the reference. The dropout mask is drawn by NumPy from
# minicnn's generator, so that every kernel set sees the same mask for the same seed (the CUDA
# set's caller moves it to the GPU). The others run as BLAS products (adaptive average pooling)
# or a few vectorised passes over the data (NumPy's or CuPy's), which a kernel of their own would
# not beat by enough to be worth a second copy.
FROM_REFERENCE = ("dropout_mask", "leaky_relu_forward", "leaky_relu_backward", "softmax_forward",
                  "softmax_backward", "log_softmax_forward", "log_softmax_backward",
                  "avg_pool2d_divisor", "adaptive_avg_pool2d_forward",
                  "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward",
                  "batch_norm_inference_backward")


def kernel_name(kernel, dtype):
    """The name of ``kernel`` for ``dtype``: csrc/ and kernels/ define each kernel once per dtype
    of validate.FLOATS, as <kernel>_f32 and <kernel>_f64."""
    dtype = np.dtype(dtype)
    check.float_dtype(f"the dtype of {kernel}", dtype)
    return f"{kernel}_f{8 * dtype.itemsize}"


def sizes(*values):
    """Sizes and hyper-parameters as the kernels' int64 arguments."""
    return tuple(np.int64(v) for v in values)


def real(value):
    """A real hyper-parameter as the kernels' float64 (TypeError / ValueError for no number)."""
    return np.float64(float(value))


def flag(value):
    """A yes / no argument as the kernels' int32 (0 or 1)."""
    return np.int32(bool(value))


def sgd_state(momentum, momentum_buffer):
    """The state an SGD update writes: the momentum buffer when momentum != 0."""
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("momentum_buffer is needed when momentum != 0")
    return {"momentum_buffer": momentum_buffer if momentum != 0 else None}


def adam_state(amsgrad, exp_avg, exp_avg_sq, max_exp_avg_sq):
    """The state an Adam / AdamW update writes: both moments, and the running max of the second
    under amsgrad."""
    if exp_avg is None or exp_avg_sq is None:
        raise ValueError("exp_avg and exp_avg_sq are needed")
    if amsgrad and max_exp_avg_sq is None:
        raise ValueError("max_exp_avg_sq is needed when amsgrad is on")
    return {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
            "max_exp_avg_sq": max_exp_avg_sq if amsgrad else None}


def rmsprop_state(centered, momentum, square_avg, grad_avg, momentum_buffer):
    """The state an RMSprop update writes: the square average, the gradient average when
    centered, the momentum buffer when momentum > 0."""
    if square_avg is None:
        raise ValueError("square_avg is needed")
    if centered and grad_avg is None:
        raise ValueError("grad_avg is needed when centered is on")
    if momentum > 0 and momentum_buffer is None:
        raise ValueError("momentum_buffer is needed when momentum > 0")
    return {"square_avg": square_avg, "grad_avg": grad_avg if centered else None,
            "momentum_buffer": momentum_buffer if momentum > 0 else None}


class Kernels:
    """The kernels of ``KERNELS`` on a set's ``xp``, ``empty`` and ``launch`` (see the module's
    docstring); each has the name, arguments and results of its kernel in ``reference.py``."""

    xp = np

    def empty(self, kernel, shape, dtype):
        """An uninitialised C-contiguous output array of ``kernel``."""
        raise NotImplementedError

    def launch(self, kernel, dtype, work, *args, per_block=False):
        """Run ``kernel`` for ``dtype`` on ``args`` over ``work`` items: elements or, with
        ``per_block``, rows / channels (a set that has no blocks ignores both)."""
        raise NotImplementedError

    def bound(self):
        """{name: kernel}: this set's for every name of KERNELS, the reference's for every name
        of FROM_REFERENCE."""
        kernels = {name: getattr(reference, name) for name in FROM_REFERENCE}
        kernels.update((name, getattr(self, name)) for name in KERNELS)
        return kernels

    # ----- checks on this set's arrays ---------------------------------------------------------

    def floats(self, name, array, **options):
        return check.floats(name, array, self.xp, **options)

    def batch(self, name, array, **options):
        """A (N, C, H, W) float array with every size >= 1."""
        array = self.floats(name, array, ndim=4, **options)
        check.positive_sizes(name, array.shape)
        return array

    def like(self, name, array, other, other_name):
        """A float array of the dtype and shape of ``other``."""
        array = self.floats(name, array, like=other, like_name=other_name)
        check.same_shape(name, array, other.shape, other_name)
        return array

    def channel_vector(self, name, array, x, optional=False):
        return check.channel_vector(name, array, x, x.shape[1], optional, self.xp)

    # ----- ReLU --------------------------------------------------------------------------------

    def relu_forward(self, x):
        x = self.floats("x", x)
        y = self.empty("relu_forward", x.shape, x.dtype)
        self.launch("relu_forward", x.dtype, x.size, x, y, *sizes(x.size))
        return y

    def relu_backward(self, grad_y, y):
        y = self.floats("y", y)
        grad_y = self.like("grad_y", grad_y, y, "y")
        grad_x = self.empty("relu_backward", y.shape, y.dtype)
        self.launch("relu_backward", y.dtype, y.size, grad_y, y, grad_x, *sizes(y.size))
        return grad_x

    # ----- GELU: approximate "none" (x Phi(x)) or "tanh", passed as the flag tanh -------------

    def gelu_forward(self, x, approximate):
        x = self.floats("x", x)
        tanh = flag(check.choice("approximate", approximate, ("none", "tanh")) == "tanh")
        y = self.empty("gelu_forward", x.shape, x.dtype)
        self.launch("gelu_forward", x.dtype, x.size, x, y, tanh, *sizes(x.size))
        return y

    def gelu_backward(self, grad_y, x, approximate):
        x = self.floats("x", x)
        grad_y = self.like("grad_y", grad_y, x, "x")
        tanh = flag(check.choice("approximate", approximate, ("none", "tanh")) == "tanh")
        grad_x = self.empty("gelu_backward", x.shape, x.dtype)
        self.launch("gelu_backward", x.dtype, x.size, grad_y, x, grad_x, tanh, *sizes(x.size))
        return grad_x

    # ----- softmax cross-entropy ---------------------------------------------------------------

    def cross_entropy_arguments(self, kernel, logits_name, logits, target, weight, ignore_index):
        """logits (M, C) (or log_probs), target (M,) of classes in [0, C) or ignore_index,
        weight (C,) or None; ignore_index as the kernels' int64."""
        logits = self.floats(logits_name, logits, ndim=2)
        check.positive_sizes(logits_name, logits.shape)
        M, C = logits.shape
        target = check.int64s("target", target, (M,), self.xp)
        ignore_index = check.integer("ignore_index", ignore_index, -2 ** 63)
        if ignore_index >= 2 ** 63:
            raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
        outside = (target != ignore_index) & ((target < 0) | (target >= C))
        if outside.any():
            raise IndexError(f"{kernel}: target {int(target[outside][0])} is out of bounds for "
                             f"{C} classes")
        if weight is not None:
            weight = self.floats("weight", weight, like=logits, like_name=logits_name)
            if weight.shape != (C,):
                raise ValueError(f"weight must have shape ({C},), got {weight.shape}")
        return logits, target, weight, np.int64(ignore_index)

    def softmax_cross_entropy_forward(self, logits, target, weight, ignore_index,
                                      label_smoothing):
        kernel = "softmax_cross_entropy_forward"
        logits, target, weight, ignore_index = self.cross_entropy_arguments(
            kernel, "logits", logits, target, weight, ignore_index)
        M, C = logits.shape
        loss = self.empty(kernel, (M,), logits.dtype)
        log_probs = self.empty(kernel, (M, C), logits.dtype)
        self.launch(kernel, logits.dtype, M, logits, target, weight, ignore_index,
                    real(label_smoothing), loss, log_probs, *sizes(M, C), per_block=True)
        return loss, log_probs

    def softmax_cross_entropy_backward(self, grad_loss, log_probs, target, weight, ignore_index,
                                       label_smoothing):
        kernel = "softmax_cross_entropy_backward"
        log_probs, target, weight, ignore_index = self.cross_entropy_arguments(
            kernel, "log_probs", log_probs, target, weight, ignore_index)
        M, C = log_probs.shape
        grad_loss = self.floats("grad_loss", grad_loss, like=log_probs, like_name="log_probs")
        check.same_shape("grad_loss", grad_loss, (M,), "target")
        grad_logits = self.empty(kernel, (M, C), log_probs.dtype)
        self.launch(kernel, log_probs.dtype, M, grad_loss, log_probs, target, weight,
                    ignore_index, real(label_smoothing), grad_logits, *sizes(M, C),
                    per_block=True)
        return grad_logits

    # ----- the convolution family: x (N, C, H, W), weight (F, C/G, kh, kw), y (N, F, oh, ow) --
    # Each set runs its own (C: a fused GEMM; CUDA: tiled products); the checks are these.

    @staticmethod
    def groups_and_window(groups, value, weight):
        """groups >= 1 dividing weight's F, and the checked Window, whose kernel is weight's."""
        groups, = check.int32s(("groups",), (groups,), 1)
        checked = check.window(value)
        if weight.shape[2:] != checked[:2]:
            raise ValueError(f"weight of shape {weight.shape} does not match the window's kernel "
                             f"{checked[:2]}")
        if weight.shape[0] % groups != 0:
            raise ValueError(f"weight.shape[0] ({weight.shape[0]}) must be divisible by groups "
                             f"({groups})")
        return groups, checked

    @staticmethod
    def channels(name, array, expected):
        """Raise ValueError unless ``array`` (N, C, H, W) has ``expected`` channels."""
        if array.shape[1] != expected:
            raise ValueError(f"{name} must have {expected} channels, got shape {array.shape}")

    def conv2d_operands(self, x, weight, groups, value):
        """The arguments of conv2d_forward, checked: (x, weight, groups, window)."""
        x = self.batch("x", x)
        weight = self.batch("weight", weight, like=x, like_name="x")
        groups, checked = self.groups_and_window(groups, value, weight)
        self.channels("x", x, weight.shape[1] * groups)
        check.output_hw("conv2d_forward", *x.shape[2:], checked)
        return x, weight, groups, checked

    def conv2d_backward_input_operands(self, grad_y, weight, groups, value, input_hw):
        """The arguments of conv2d_backward_input, checked: (grad_y, weight, groups, window,
        input_hw)."""
        grad_y = self.batch("grad_y", grad_y)
        weight = self.batch("weight", weight, like=grad_y, like_name="grad_y")
        groups, checked = self.groups_and_window(groups, value, weight)
        self.channels("grad_y", grad_y, weight.shape[0])
        if not isinstance(input_hw, (tuple, list)) or len(input_hw) != 2:
            raise TypeError(f"input_hw must be a pair (H, W), got {input_hw!r}")
        H, W = check.int32s(("H", "W"), input_hw, 1)
        oh, ow = check.output_hw("conv2d_backward_input", H, W, checked)
        check.same_shape("grad_y", grad_y, (*grad_y.shape[:2], oh, ow), "the convolution's output")
        check.positive_sizes("grad_x", (grad_y.shape[0], weight.shape[1] * groups, H, W))
        return grad_y, weight, groups, checked, (H, W)

    def conv2d_backward_weight_operands(self, x, grad_y, groups, value):
        """The arguments of conv2d_backward_weight, checked: (x, grad_y, groups, window)."""
        x = self.batch("x", x)
        grad_y = self.batch("grad_y", grad_y, like=x, like_name="x")
        groups, checked = check.int32s(("groups",), (groups,), 1)[0], check.window(value)
        for name, array in (("x", x), ("grad_y", grad_y)):
            if array.shape[1] % groups != 0:
                raise ValueError(f"{name}.shape[1] ({array.shape[1]}) must be divisible by groups "
                                 f"({groups})")
        oh, ow = check.output_hw("conv2d_backward_weight", *x.shape[2:], checked)
        check.same_shape("grad_y", grad_y, (x.shape[0], grad_y.shape[1], oh, ow),
                         "the convolution's output")
        return x, grad_y, groups, checked

    # ----- pooling -----------------------------------------------------------------------------

    def pooled(self, x, window, oh, ow):
        """The checked (window, oh, ow) of a pooling of x (N, C, H, W) into (N, C, oh, ow)."""
        window = check.window(window)
        oh, ow = check.int32s(("oh", "ow"), (oh, ow), 1)
        N, C, H, W = x.shape
        check.pooled_hw(H, W, window, oh, ow)
        check.positive_sizes("y", (N, C, oh, ow))
        return window, oh, ow

    def max_pool2d_backward_arguments(self, grad_y, indices, H, W):
        """grad_y, indices (N, C, oh, ow) and the checked (H, W); the indices' values are the
        set's to check (in the C kernel, or before the CUDA launch)."""
        grad_y = self.batch("grad_y", grad_y)
        indices = check.int64s("indices", indices, grad_y.shape, self.xp)
        N, C, oh, ow = grad_y.shape
        H, W = check.int32s(("H", "W"), (H, W), 1)
        check.int32s(("oh", "ow"), (oh, ow), 1)
        check.positive_sizes("grad_x", (N, C, H, W))
        return grad_y, indices, H, W

    def max_pool2d_forward(self, x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
        x = self.batch("x", x)
        window, oh, ow = self.pooled(x, (kh, kw, sh, sw, ph, pw, dh, dw), oh, ow)
        N, C, H, W = x.shape
        y = self.empty("max_pool2d_forward", (N, C, oh, ow), x.dtype)
        indices = self.empty("max_pool2d_forward", (N, C, oh, ow), np.int64)
        self.launch("max_pool2d_forward", x.dtype, y.size, x, y, indices,
                    *sizes(N, C, H, W, *window, oh, ow))
        return y, indices

    def avg_pool2d_forward(self, x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad):
        x = self.batch("x", x)
        window, oh, ow = self.pooled(x, (kh, kw, sh, sw, ph, pw, 1, 1), oh, ow)
        N, C, H, W = x.shape
        y = self.empty("avg_pool2d_forward", (N, C, oh, ow), x.dtype)
        self.launch("avg_pool2d_forward", x.dtype, y.size, x, y,
                    *sizes(N, C, H, W, *window[:6], oh, ow), flag(count_include_pad))
        return y

    def avg_pool2d_backward(self, grad_y, H, W, kh, kw, sh, sw, ph, pw, count_include_pad):
        grad_y = self.batch("grad_y", grad_y)
        H, W = check.int32s(("H", "W"), (H, W), 1)
        window = check.window((kh, kw, sh, sw, ph, pw, 1, 1))
        N, C, oh, ow = grad_y.shape
        check.int32s(("oh", "ow"), (oh, ow), 1)
        check.pooled_hw(H, W, window, oh, ow)
        check.positive_sizes("grad_x", (N, C, H, W))
        grad_x = self.empty("avg_pool2d_backward", (N, C, H, W), grad_y.dtype)
        self.launch("avg_pool2d_backward", grad_y.dtype, grad_x.size, grad_y, grad_x,
                    *sizes(N, C, H, W, *window[:6], oh, ow), flag(count_include_pad))
        return grad_x

    # ----- batch norm --------------------------------------------------------------------------

    def batch_norm_forward(self, x, weight, bias, eps):
        x = self.batch("x", x)
        N, C, H, W = x.shape
        weight = self.channel_vector("weight", weight, x, optional=True)
        bias = self.channel_vector("bias", bias, x, optional=True)
        y = self.empty("batch_norm_forward", x.shape, x.dtype)
        mean, var, invstd = (self.empty("batch_norm_forward", (C,), x.dtype) for _ in range(3))
        self.launch("batch_norm_forward", x.dtype, C, x, weight, bias, real(eps), y, mean,
                    var, invstd, *sizes(N, C, H, W), per_block=True)
        return y, mean, var, invstd

    def batch_norm_backward(self, grad_y, x, weight, mean, invstd):
        x = self.batch("x", x)
        N, C, H, W = x.shape
        grad_y = self.like("grad_y", grad_y, x, "x")
        weight = self.channel_vector("weight", weight, x, optional=True)
        mean = self.channel_vector("mean", mean, x)
        invstd = self.channel_vector("invstd", invstd, x)
        grad_x = self.empty("batch_norm_backward", x.shape, x.dtype)
        grad_weight, grad_bias = (self.empty("batch_norm_backward", (C,), x.dtype)
                                  for _ in range(2))
        self.launch("batch_norm_backward", x.dtype, C, grad_y, x, weight, mean, invstd, grad_x,
                    grad_weight, grad_bias, *sizes(N, C, H, W), per_block=True)
        return grad_x, grad_weight, grad_bias

    # ----- local response norm -----------------------------------------------------------------

    @staticmethod
    def lrn_scalars(size, alpha, beta, k):
        size, = check.int32s(("size",), (size,), 1)
        return np.int64(size), real(alpha), real(beta), real(k)

    def lrn_forward(self, x, size, alpha, beta, k):
        x = self.batch("x", x)
        scalars = self.lrn_scalars(size, alpha, beta, k)
        y = self.empty("lrn_forward", x.shape, x.dtype)
        scale = self.empty("lrn_forward", x.shape, x.dtype)
        self.launch("lrn_forward", x.dtype, x.size, x, y, scale, *sizes(*x.shape), *scalars)
        return y, scale

    def lrn_backward(self, grad_y, x, y, scale, size, alpha, beta, k):
        x = self.batch("x", x)
        grad_y, y, scale = (self.like(name, array, x, "x")
                            for name, array in (("grad_y", grad_y), ("y", y), ("scale", scale)))
        scalars = self.lrn_scalars(size, alpha, beta, k)
        grad_x = self.empty("lrn_backward", x.shape, x.dtype)
        self.launch("lrn_backward", x.dtype, x.size, grad_y, x, y, scale, grad_x,
                    *sizes(*x.shape), *scalars)
        return grad_x

    # ----- dropout -----------------------------------------------------------------------------

    def dropout_apply(self, x, mask):
        x = self.floats("x", x)
        mask = self.like("mask", mask, x, "x")
        y = self.empty("dropout_apply", x.shape, x.dtype)
        self.launch("dropout_apply", x.dtype, x.size, x, mask, y, *sizes(x.size))
        return y

    # ----- optimizer updates (in place) --------------------------------------------------------

    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                 nesterov, maximize, first_step):
        update = check.InPlace(param, grad, self.xp, **sgd_state(momentum, momentum_buffer))
        state = update.arrays.get
        self.launch("sgd_step", update.dtype, update.size, state("param"), update.grad,
                    state("momentum_buffer"), *sizes(update.size), real(lr),
                    real(momentum), real(dampening), real(weight_decay),
                    flag(nesterov), flag(maximize), flag(first_step))
        update.finish()

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1,
                  beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize):
        step = check.integer("step", step, 1)
        update = check.InPlace(param, grad, self.xp, **adam_state(
            amsgrad, exp_avg, exp_avg_sq, max_exp_avg_sq))
        state = update.arrays.get
        self.launch("adam_step", update.dtype, update.size, state("param"), update.grad,
                    state("exp_avg"), state("exp_avg_sq"), state("max_exp_avg_sq"),
                    *sizes(update.size, step), real(lr), real(beta1),
                    real(beta2), real(eps), real(weight_decay),
                    flag(decoupled_weight_decay), flag(amsgrad), flag(maximize))
        update.finish()

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                     weight_decay, momentum, centered, maximize):
        update = check.InPlace(param, grad, self.xp, **rmsprop_state(
            centered, momentum, square_avg, grad_avg, momentum_buffer))
        state = update.arrays.get
        self.launch("rmsprop_step", update.dtype, update.size, state("param"), update.grad,
                    state("square_avg"), state("grad_avg"), state("momentum_buffer"),
                    *sizes(update.size), real(lr), real(alpha), real(eps),
                    real(weight_decay), real(momentum), flag(centered),
                    flag(maximize))
        update.finish()
