"""Checks shared by the op tests: a float64 gradient check, and a comparison of values and
gradients with PyTorch's (skipped where PyTorch is not installed)."""

import numpy as np
import pytest

import minicnn as mc
from minicnn.utils.gradcheck import gradcheck


def leaves(*arrays):
    return [mc.tensor(a, requires_grad=True) for a in arrays]


def assert_gradcheck(fn, inputs, **options):
    result = gradcheck(fn, inputs, **options)
    assert result, str(result)
    return result


def assert_matches_torch(mc_fn, torch_fn, arrays, rng, rtol=1e-12, atol=1e-14):
    """Same forward values and, for one random upstream gradient, the same input gradients."""
    import torch
    xs = leaves(*arrays)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = mc_fn(*xs), torch_fn(*ts)
    assert y.shape == tuple(ty.shape)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    upstream = rng.standard_normal(y.shape)
    y.backward(mc.tensor(upstream))
    ty.backward(torch.tensor(upstream))
    for x, t in zip(xs, ts):
        expected = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# A test parametrized over CHECKS runs once as a float64 gradient check and once (where PyTorch
# is installed) as a comparison of values and gradients with PyTorch.
CHECKS = ["gradcheck", "torch"]


def torch_for(check):
    return pytest.importorskip("torch") if check == "torch" else None


def verify(check, fn, arrays, rng, torch_fn=None):
    """Gradient check of fn at arrays, or fn against torch_fn (fn itself when the same code
    runs on both libraries)."""
    if check == "gradcheck":
        assert_gradcheck(fn, leaves(*arrays))
    else:
        assert_matches_torch(fn, torch_fn or fn, arrays, rng)
