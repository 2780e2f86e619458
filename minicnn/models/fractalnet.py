"""FractalNet: Larsson, Maire and Shakhnarovich, "FractalNet: ultra-deep neural networks
without residuals", ICLR 2017.

A fractal block with C columns: f_1(z) = conv(z), f_{C+1}(z) = join(f_C(f_C(z)), conv(z)),
where join is the element-wise mean. Drawn as columns, column j (j = 0 the deepest) is a
chain of 2^(C-1-j) convs, and the columns are joined wherever their convs end together. No
shortcut adds an identity: the short columns give the gradient a short path instead.

Drop-path regularises the joins in training: "local" drops each input of a join with
probability p (keeping at least one), "global" keeps a single column for the whole network.
"""

from minicnn import nn
from minicnn.autograd import Tensor
from minicnn.backend import get_array_module
from minicnn.models.registry import register_model
from minicnn.nn.modules.budget import check_parameters
from minicnn.nn import init
from minicnn.ops import stack
from minicnn.random import default_generator


class ConvUnit(nn.Sequential):
    """conv 3x3 (no bias) - BN - ReLU, with dropout after it when ``dropout`` > 0."""

    def __init__(self, in_channels, out_channels, dropout):
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                  nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(p=dropout))
        super().__init__(*layers)


def join(inputs, keep):
    """The mean of the surviving ``inputs`` (a list of (N, C, H, W) tensors), per sample.
    ``keep`` is None (all survive) or a 0/1 array of shape (len(inputs), N)."""
    if len(inputs) == 1:
        return inputs[0]
    stacked = stack(inputs, 0)
    if keep is None:
        return stacked.mean(0)
    xp = get_array_module(stacked.array)
    # mask / number alive: sums to the mean of the survivors for every sample
    weights = keep / keep.sum(axis=0, keepdims=True)
    weights = Tensor(xp.asarray(weights.reshape(keep.shape + (1, 1, 1)), dtype=stacked.dtype))
    return (stacked * weights).sum(0)


class FractalBlock(nn.Module):
    """A fractal block with ``num_columns`` (C) columns. ``levels[t]`` holds the convs at
    depth t + 1, one for each column j (j = 0 the deepest) such that 2^j divides t + 1, so
    column j has 2^(C-1-j) convs; the columns of a level are joined after it. The parameters
    are registered in the order of the forward pass."""

    def __init__(self, in_channels, out_channels, num_columns, dropout=0.0):
        super().__init__()
        self.num_columns = num_columns
        depth = 2 ** (num_columns - 1)
        self.levels = nn.ModuleList()
        for level in range(depth):
            convs = nn.ModuleList()
            for column in range(num_columns):
                if (level + 1) % 2 ** column == 0:
                    first_of_column = level + 1 == 2 ** column
                    convs.append(ConvUnit(in_channels if first_of_column else out_channels,
                                          out_channels, dropout))
            self.levels.append(convs)

    def forward(self, x, drop_plan=None):
        """``drop_plan`` (training only): a function (number of joined columns) -> keep mask
        of shape (columns, N), or None for a plain mean."""
        column_inputs = [x] * self.num_columns
        for convs in self.levels:
            outputs = [conv(column_inputs[column]) for column, conv in enumerate(convs)]
            joined = join(outputs, None if drop_plan is None else drop_plan(len(outputs)))
            for column in range(len(convs)):
                column_inputs[column] = joined
        return column_inputs[0]


class DropPathPlan:
    """The drop-path masks of one training forward pass. Each sample is "global" with
    probability ``global_ratio`` (it keeps one column, drawn at random, through the whole
    network) or "local" (each join input dropped with probability ``local_drop``, at least
    one kept)."""

    def __init__(self, batch_size, num_columns, local_drop, global_ratio):
        rng = default_generator()
        self.rng, self.local_drop, self.num_columns = rng, local_drop, num_columns
        self.is_global = rng.random(batch_size) < global_ratio
        self.column = rng.integers(0, num_columns, size=batch_size)

    def __call__(self, joined_columns):
        # a join merges the joined_columns deepest columns (column 0 is the deepest)
        batch = self.is_global.shape[0]
        keep = (self.rng.random((joined_columns, batch)) >= self.local_drop).astype(float)
        dead = keep.sum(axis=0) == 0
        keep[self.rng.integers(0, joined_columns, size=batch)[dead], dead.nonzero()[0]] = 1.0
        for sample in self.is_global.nonzero()[0]:
            column = self.column[sample]
            # the chosen column is not in this join: the join's output feeds only columns the
            # sample drops later, so any mask does; keep them all
            keep[:, sample] = 1.0 if column >= joined_columns else 0.0
            if column < joined_columns:
                keep[column, sample] = 1.0
        return keep


# a block of C columns is 2^(C-1) convs deep and holds 2^C - 1 of them: the paper's nets have 3
# or 4 columns, and 8 (128 deep) is already past the parameter budget of models.create
MAX_COLUMNS = 8


def fractal_parameter_count(channels, num_columns, num_classes, in_channels=3):
    """The parameters of a FractalNet, counted without building it: in each block, column j
    starts with a conv from the block's input and goes on with 2^(C-1-j) - 1 convs between
    ``out`` channels (3x3, no bias; a batch norm's weight and bias follow each conv), then an
    FC layer with bias."""
    count, convs = 0, 2 ** num_columns - 1
    for out in channels:
        count += (num_columns * 9 * in_channels * out + (convs - num_columns) * 9 * out * out
                  + convs * 2 * out)
        in_channels = out
    return count + (in_channels + 1) * num_classes


class FractalNet(nn.Module):
    """FractalNet for CIFAR (section 4 of the paper) on a 3x32x32 image: five fractal blocks
    with C = 3 columns (20 layers on the deepest path) and 64, 128, 256, 512, 512 channels,
    each followed by a 2x2 max pool (32 -> 1), then FC num_classes.

    Training uses drop-path (local p = 0.15, half of the samples global) and dropout
    (0, 0.1, 0.2, 0.3, 0.4 in the five blocks), as the paper's best CIFAR net; eval joins by
    plain means. 33,724,618 parameters with 10 classes: the paper's table 1 gives 38.6M for
    this net, which its own description does not reproduce (the same 33.7M is what other
    reimplementations count). Convs have no bias (a BN follows). Initialisation: He uniform
    for the convs. Drop decisions are drawn per sample (the paper alternates local and global
    per mini-batch) from minicnn's default generator."""

    def __init__(self, num_classes=10, num_columns=3, channels=(64, 128, 256, 512, 512),
                 dropout=(0.0, 0.1, 0.2, 0.3, 0.4), local_drop=0.15, global_ratio=0.5):
        super().__init__()
        if isinstance(num_columns, bool) or not isinstance(num_columns, int) or \
                not 1 <= num_columns <= MAX_COLUMNS:
            raise ValueError(f"num_columns must be an int in [1, {MAX_COLUMNS}], got "
                             f"{num_columns!r:.40}")
        for name, value in (("local_drop", local_drop), ("global_ratio", global_ratio)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r:.40}")
        if len(dropout) != len(channels):
            raise ValueError(f"dropout needs one rate per block ({len(channels)}), "
                             f"got {len(dropout)}")
        check_parameters(fractal_parameter_count(channels, num_columns, num_classes),
                         f"{num_columns} columns of {len(channels)} blocks")
        self.num_columns, self.local_drop, self.global_ratio = (num_columns, local_drop,
                                                                global_ratio)
        blocks, in_channels = [], 3
        for out_channels, rate in zip(channels, dropout):
            blocks.append(FractalBlock(in_channels, out_channels, num_columns, rate))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_uniform_(module.weight, nonlinearity="relu")

    def forward(self, x):
        plan = None
        if self.training:
            plan = DropPathPlan(x.shape[0], self.num_columns, self.local_drop,
                                self.global_ratio)
        for block in self.blocks:
            x = self.pool(block(x, plan))
        return self.fc(x.flatten(1))


@register_model("fractalnet", num_classes=10, input_size=(3, 32, 32))
def fractalnet(num_classes=10, num_columns=3, local_drop=0.15, global_ratio=0.5):
    """FractalNet (Larsson et al. 2017), 5 blocks x 3 columns (20 layers), drop-path, CIFAR
    3x32x32; 33,724,618 params (paper's table: 38.6M)."""
    return FractalNet(num_classes=num_classes, num_columns=num_columns, local_drop=local_drop,
                      global_ratio=global_ratio)
