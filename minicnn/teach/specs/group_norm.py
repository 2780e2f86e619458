"""What ``minicnn check`` runs for exercise group_norm (spatial group normalisation, forward and
backward (Wu and He 2018)): the cases, the reference (minicnn's own ops, never the solution) and
the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/group_norm.py``, the
solution (source tree only) ``minicnn/teach/solutions/group_norm.py``."""

import minicnn.nn.functional as F
from minicnn.teach.checker import Case, Exercise, Gradient, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import forward, with_grads
from minicnn.teach.specs.batch_norm import BN_AXES_HINT


def _gn_cases(rng):
    cases = []
    for N, C, H, W, G in [(2, 4, 3, 3, 2), (1, 6, 2, 4, 3), (3, 6, 3, 2, 2), (2, 4, 2, 2, 4)]:
        cases.append(Case(f"x {N}x{C}x{H}x{W}, {G} groups", {
            "x": rng.standard_normal((N, C, H, W)) * rng.uniform(0.5, 3, (1, C, 1, 1))
            + rng.standard_normal((1, C, 1, 1)), "gamma": rng.uniform(0.5, 1.5, C),
            "beta": rng.standard_normal(C), "G": G, "eps": 1e-5,
            "dout": rng.standard_normal((N, C, H, W))}))
    return cases


def _gn_op(values, interleaved=False):
    G, eps = values["G"], values["eps"]

    def op(x, gamma, beta):
        N, C, H, W = x.shape
        if interleaved:          # the mistake: channel c in group c % G
            x = x.reshape(N, C // G, G, H, W).permute(0, 2, 1, 3, 4)
        groups = x.reshape(N, G, -1)
        mean = groups.mean(axis=2, keepdims=True)
        var = ((groups - mean) ** 2).mean(axis=2, keepdims=True)
        xhat = (groups - mean) / (var + eps) ** 0.5
        if interleaved:
            xhat = xhat.reshape(N, G, C // G, H, W).permute(0, 2, 1, 3, 4)
        return gamma.reshape(1, C, 1, 1) * xhat.reshape(N, C, H, W) + beta.reshape(1, C, 1, 1)
    return op


def _gn_grads(values):
    _, grads = with_grads(_gn_op(values), [values["x"], values["gamma"], values["beta"]],
                           values["dout"])
    return dict(zip(("dx", "dgamma", "dbeta"), grads))


EXERCISE = Exercise("group_norm", (
    Part("spatial_groupnorm_forward",
         lambda v: {"out": forward(_gn_op(v), v["x"], v["gamma"], v["beta"])},
         arguments("x", "gamma", "beta", "G", "eps"), outputs("out"), (
             same_as("out", "a group is C // G CONSECUTIVE channels (x.reshape(N, G, -1)), not "
                            "every G-th channel",
                     lambda v: forward(_gn_op(v, interleaved=True), v["x"], v["gamma"],
                                        v["beta"])),
             same_as("out", BN_AXES_HINT.split(":")[0] + ": group norm takes its statistics per "
                            "SAMPLE and group, over the group's channels and pixels, never "
                            "across the batch",
                     lambda v: forward(lambda x, g, b: F.batch_norm(
                         x, None, None, g, b, training=True, eps=v["eps"]),
                         v["x"], v["gamma"], v["beta"])),
         )),
    Part("spatial_groupnorm_backward", _gn_grads, arguments("dout", "x", "gamma", "G", "eps"),
         outputs("dx", "dgamma", "dbeta"), (
             same_as("dgamma", "dgamma sums dout * xhat, the NORMALISED input, over N, H and "
                               "W: not dout * x",
                     lambda v: (v["dout"] * v["x"]).sum(axis=(0, 2, 3))),
             same_as("dx", "a group is C // G CONSECUTIVE channels, in the backward pass too",
                     lambda v: with_grads(_gn_op(v, interleaved=True),
                                           [v["x"], v["gamma"], v["beta"]], v["dout"])[1][0]),
         ),
         Gradient(("x", "gamma", "beta"),
                  lambda v: forward(_gn_op(v), v["x"], v["gamma"], v["beta"]),
                  lambda function, v, up: function(up, v["x"], v["gamma"], v["G"], v["eps"]))),
), _gn_cases)
