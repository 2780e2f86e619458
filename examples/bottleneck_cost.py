"""The cost of a 1x1 bottleneck, the lecture's GoogLeNet example (Szegedy et al. 2015, section 4):
a 5x5 convolution from 192 to 32 channels on a 28x28 map, with and without a 16-channel 1x1
convolution in front of it.

    python examples/bottleneck_cost.py

    direct 5x5:       120,422,400 multiply-adds  (about 120M)
    1x1, then 5x5:     12,443,648 multiply-adds  (about 12.4M, a tenth)

The numbers come from ``minicnn.utils.conv_arithmetic.conv_layer``, the formulas that
``minicnn summary`` uses: multiply-adds = C_out * H_out * W_out * C_in * kh * kw.
"""

from minicnn.utils.conv_arithmetic import conv_layer

INPUT = (192, 28, 28)          # C, H, W
OUT_CHANNELS, BOTTLENECK = 32, 16


def costs():
    """(direct layer, [bottleneck layer, 5x5 layer]) as ConvLayer tuples."""
    direct = conv_layer(INPUT, OUT_CHANNELS, kernel_size=5, padding=2, bias=False)
    reduce = conv_layer(INPUT, BOTTLENECK, kernel_size=1, bias=False)
    conv = conv_layer(reduce.output_shape, OUT_CHANNELS, kernel_size=5, padding=2, bias=False)
    return direct, [reduce, conv]


def main():
    direct, (reduce, conv) = costs()
    total = reduce.mult_adds + conv.mult_adds
    print(f"input {'x'.join(map(str, INPUT))} -> output {'x'.join(map(str, direct.output_shape))}")
    rows = [(f"direct 5x5 conv, {INPUT[0]} -> {OUT_CHANNELS}", direct.mult_adds, direct.weights),
            (f"1x1 conv, {INPUT[0]} -> {BOTTLENECK}", reduce.mult_adds, reduce.weights),
            (f"then 5x5 conv, {BOTTLENECK} -> {OUT_CHANNELS}", conv.mult_adds, conv.weights),
            ("with the bottleneck", total, reduce.weights + conv.weights)]
    for name, mult_adds, weights in rows:
        print(f"  {name:30s} {mult_adds:>12,} multiply-adds  {weights:>8,} weights")
    print(f"the bottleneck needs {direct.mult_adds / total:.1f}x fewer multiply-adds")
    print("full size: `minicnn summary googlenet` counts every inception block built this way")


if __name__ == "__main__":
    main()
