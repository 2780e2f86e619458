"""One-line PyTorch habits, run on minicnn and compared with PyTorch: values, dtypes and gradients.

Each row is a name, its inputs and a function of a namespace ``m`` (``m.th`` is ``torch`` or
``minicnn``, ``m.nn`` and ``m.F`` their nn and functional modules, ``m.optim`` their optimizers)
and the inputs. The very same function runs on both libraries. Every row runs in float32 and in
float64 (floating inputs in that dtype); the outputs' values and dtypes, and the gradients of
sum(output * g) (g a fixed random upstream gradient) with respect to the floating inputs, must
match.

Without PyTorch the rows are compared with the values PyTorch 2.13 gave, stored in
tests/data/pytorch_conformance.npz; with it, with PyTorch too. Regenerate the file with
``PYTHONPATH=. python3 tests/spec/test_pytorch_conformance.py`` from the repository root (needs
torch; the stored values are PyTorch's alone). Every differentiable row also
passes minicnn's float64 gradient check.

Input specs: "f:3,4" normal, "p:3,4" in [0.5, 2], "u:3,4" in [0.05, 0.95], "i5:3,4" int64 in
[0, 5), "b:3,4" bool; an empty shape ("f:") is 0-d.
"""

import json
import math
import sys
import warnings
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import minicnn
import minicnn.nn.functional
from minicnn.autograd import Tensor
from minicnn.utils.gradcheck import gradcheck

try:
    import torch
except ImportError:
    torch = None

DATA = Path(__file__).resolve().parents[1] / "data" / "pytorch_conformance.npz"
MC = SimpleNamespace(th=minicnn, nn=minicnn.nn, F=minicnn.nn.functional, optim=minicnn.optim)
TOLERANCE = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-9, atol=1e-12)}


# ----- helpers that rows share (written once, run on either library) ---------------------------

def _layer(module, *state):
    """``module`` in the dtype of ``state`` with its parameters set to it (weight, then bias),
    as a checkpoint would set them."""
    names = [name for name, _ in module.named_parameters()]
    module.to(state[0].dtype).load_state_dict(dict(zip(names, [s.detach() for s in state])),
                                              strict=False)
    return module


def _lazy(module, x, *state):
    """A lazy layer run once (to infer its sizes), given ``state``, and run again."""
    module(x.detach().float())
    return _layer(module, *state)(x)


def _clip(m, x, g, **options):
    """clip_grad_norm_ on a parameter x whose gradient is g: (total norm, clipped gradient)."""
    p = m.nn.Parameter(x.detach().clone())
    p.grad = g.detach().clone()
    total = m.nn.utils.clip_grad_norm_([p], **options)
    return total, p.grad


def _clip_value(m, x, g, value):
    p = m.nn.Parameter(x.detach().clone())
    p.grad = g.detach().clone()
    m.nn.utils.clip_grad_value_([p], value)
    return p.grad


def _optimize(m, name, x, target, steps=4, **options):
    """``steps`` steps of optimizer ``name`` on loss = sum(x_t (p - target)^2), p starting at x:
    the parameter after each step."""
    p = m.nn.Parameter(x.detach().clone())
    opt = getattr(m.optim, name)([p], **options)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (x.detach() * (p - target.detach()) ** 2).sum()
        loss.backward()
        opt.step()
        trajectory.append(p.detach().clone())
    return trajectory


def _schedule(m, make, steps=10, epochs=None):
    """The learning rates a scheduler ``make(optimizer)`` sets over ``steps`` epochs (at the
    given ``epochs`` with the deprecated step(epoch) form)."""
    p = m.nn.Parameter(m.th.zeros(2))
    opt = m.optim.SGD([p], lr=0.5)
    scheduler = make(m.optim.lr_scheduler, opt)
    rates = [opt.param_groups[0]["lr"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(steps):
            opt.step()
            scheduler.step() if epochs is None else scheduler.step(epochs[step])
            rates.append(float(opt.param_groups[0]["lr"]))
    return rates


def _names(modules):
    return [type(module).__name__ for module in modules]


# ----- the rows --------------------------------------------------------------------------------

ROWS = [
    # Tensor methods: activations, clamping
    ("x.relu()", "f:3,4", lambda m, x: x.relu()),
    ("x.clamp(-0.5, 0.5)", "f:3,4", lambda m, x: x.clamp(-0.5, 0.5)),
    ("x.clamp(min=0.1)", "f:3,4", lambda m, x: x.clamp(min=0.1)),
    ("x.clamp(max=0.2)", "f:3,4", lambda m, x: x.clamp(max=0.2)),
    ("x.clip(-1, 1)", "f:3,4", lambda m, x: x.clip(-1, 1)),
    ("x.clamp(lo, lo + w)", "f:3,4 f:4 p:4", lambda m, x, lo, w: x.clamp(lo, lo + w)),
    ("x.clamp(min=t)", "f:3,4 f:3,1", lambda m, x, t: x.clamp(min=t)),
    ("x.clamp(0.5, -0.5)", "f:3,4", lambda m, x: x.clamp(0.5, -0.5)),
    ("torch.clamp(x, -0.2, 0.7)", "f:3,4", lambda m, x: m.th.clamp(x, -0.2, 0.7)),
    ("i.clamp(1, 3)", "i5:6", lambda m, i: i.clamp(1, 3)),
    ("i.clamp(0.5)", "i5:6", lambda m, i: i.clamp(0.5)),
    ("x.detach().clone().clamp_(-0.3, 0.3)", "f:3,4",
     lambda m, x: x.detach().clone().clamp_(-0.3, 0.3)),
    ("x.softmax(1)", "f:3,4", lambda m, x: x.softmax(1)),
    ("x.softmax(dim=0)", "f:3,4", lambda m, x: x.softmax(dim=0)),
    ("x.log_softmax(-1)", "f:3,4", lambda m, x: x.log_softmax(-1)),
    ("torch.softmax(x, 1)", "f:2,5", lambda m, x: m.th.softmax(x, 1)),
    ("torch.relu(x)", "f:2,5", lambda m, x: m.th.relu(x)),
    # variance and standard deviation
    ("x.var()", "f:3,4", lambda m, x: x.var()),
    ("x.var(1)", "f:3,4", lambda m, x: x.var(1)),
    ("x.var(0, keepdim=True)", "f:3,4", lambda m, x: x.var(0, keepdim=True)),
    ("x.var(unbiased=False)", "f:3,4", lambda m, x: x.var(unbiased=False)),
    ("x.var(1, correction=0)", "f:3,4", lambda m, x: x.var(1, correction=0)),
    ("x.var(correction=2)", "f:3,4", lambda m, x: x.var(correction=2)),
    ("x.var(False)", "f:3,4", lambda m, x: x.var(False)),
    ("x.var((0, 2))", "f:2,3,4", lambda m, x: x.var((0, 2))),
    ("x.std()", "f:3,4", lambda m, x: x.std()),
    ("x.std(1, keepdim=True)", "f:3,4", lambda m, x: x.std(1, keepdim=True)),
    ("x.std(unbiased=False)", "f:3,4", lambda m, x: x.std(unbiased=False)),
    ("torch.std_mean(x, 1)", "f:3,4", lambda m, x: m.th.std_mean(x, 1)),
    ("torch.var_mean(x, 0)", "f:3,4", lambda m, x: m.th.var_mean(x, 0)),
    # comparisons
    ("i.eq(j)", "i3:3,4 i3:3,4", lambda m, i, j: i.eq(j)),
    ("i.eq(2)", "i3:3,4", lambda m, i: i.eq(2)),
    ("i.ne(j)", "i3:3,4 i3:3,4", lambda m, i, j: i.ne(j)),
    ("x.lt(y)", "f:3,4 f:3,4", lambda m, x, y: x.lt(y)),
    ("x.le(0.2)", "f:3,4", lambda m, x: x.le(0.2)),
    ("x.gt(y) broadcast", "f:3,4 f:4", lambda m, x, y: x.gt(y)),
    ("x.ge(0)", "f:3,4", lambda m, x: x.ge(0)),
    ("pred.eq(target.view_as(pred)).sum().item()", "i4:6,1 i4:6",
     lambda m, pred, target: pred.eq(target.view_as(pred)).sum().item()),
    ("torch.eq(i, j)", "i3:5 i3:5", lambda m, i, j: m.th.eq(i, j)),
    ("torch.lt(x, 0)", "f:5", lambda m, x: m.th.lt(x, 0)),
    # dtype conversions
    ("x.type(torch.float64)", "f:3", lambda m, x: x.type(m.th.float64)),
    ("x.type(torch.float32)", "f:3", lambda m, x: x.type(m.th.float32)),
    ("x.type()", "f:3", lambda m, x: x.type()),
    ("i.type()", "i3:3", lambda m, i: i.type()),
    ("i.type(torch.float32)", "i3:3", lambda m, i: i.type(m.th.float32)),
    ("x.int()", "f:3,4", lambda m, x: (x * 3).int()),
    ("i.bool()", "i3:6", lambda m, i: i.bool()),
    ("x.long()", "f:6", lambda m, x: (x * 3).long()),
    ("b.float()", "b:6", lambda m, b: b.float()),
    ("i.double()", "i5:6", lambda m, i: i.double()),
    ("x.to(torch.float64)", "f:3", lambda m, x: x.to(m.th.float64)),
    # // and %
    ("i // 3", "i9:6", lambda m, i: i // 3),
    ("x // 0.7", "f:3,4", lambda m, x: x.detach() // 0.7),
    ("7 // (i + 1)", "i5:6", lambda m, i: 7 // (i + 1)),
    ("i % 3", "i9:6", lambda m, i: i % 3),
    ("(i - 4) % 3", "i9:6", lambda m, i: (i - 4) % 3),
    ("x % 0.7", "f:3,4", lambda m, x: x % 0.7),
    ("x % y", "f:3,4 p:3,4", lambda m, x, y: x % y),
    ("2.5 % y", "p:3,4", lambda m, y: 2.5 % y.detach()),
    ("x.remainder(-0.6)", "f:3,4", lambda m, x: x.remainder(-0.6)),
    ("torch.floor_divide(i, 2)", "i9:6", lambda m, i: m.th.floor_divide(i, 2)),
    # ordering
    ("x.topk(2)", "f:3,5", lambda m, x: x.topk(2)),
    ("x.topk(2, dim=0)", "f:3,5", lambda m, x: x.topk(2, dim=0)),
    ("x.topk(3, largest=False)", "f:3,5", lambda m, x: x.topk(3, largest=False)),
    ("torch.topk(x, 1).indices", "f:4,5", lambda m, x: m.th.topk(x, 1).indices),
    ("x.topk(5).values.sum()", "f:8", lambda m, x: x.topk(5).values.sum()),
    ("x.sort()", "f:3,5", lambda m, x: x.sort()),
    ("x.sort(0, descending=True)", "f:3,5", lambda m, x: x.sort(0, descending=True)),
    ("x.sort(dim=1).values", "f:3,5", lambda m, x: x.sort(dim=1).values),
    ("torch.sort(x, descending=True)", "f:6", lambda m, x: m.th.sort(x, descending=True)),
    ("x.argsort()", "f:3,5", lambda m, x: x.argsort()),
    ("x.argsort(dim=0, descending=True)", "f:3,5", lambda m, x: x.argsort(dim=0, descending=True)),
    ("x.argmax()", "f:3,5", lambda m, x: x.argmax()),
    ("x.argmax(dim=1)", "f:3,5", lambda m, x: x.argmax(dim=1)),
    ("x.argmax(1, keepdim=True)", "f:3,5", lambda m, x: x.argmax(1, keepdim=True)),
    ("x.argmax(axis=0)", "f:3,5", lambda m, x: x.argmax(axis=0)),
    ("torch.argmax(x, axis=1)", "f:3,5", lambda m, x: m.th.argmax(x, axis=1)),
    ("x.argmin(dim=0)", "f:3,5", lambda m, x: x.argmin(dim=0)),
    ("output.argmax(dim=1, keepdim=True)", "f:6,10",
     lambda m, output: output.argmax(dim=1, keepdim=True)),
    # shapes
    ("x.expand(3, 5)", "f:3,1", lambda m, x: x.expand(3, 5)),
    ("x.expand(2, -1)", "f:4", lambda m, x: x.expand(2, -1)),
    ("x.expand(2, 3, 4)", "f:1,4", lambda m, x: x.expand(2, 3, 4)),
    ("x.expand(3, -1, -1)", "f:1,2,3", lambda m, x: x.expand(3, -1, -1)),
    ("x.expand_as(y)", "f:3,1 f:3,4", lambda m, x, y: x.expand_as(y) * y),
    ("x.repeat(2, 3)", "f:2,3", lambda m, x: x.repeat(2, 3)),
    ("x.repeat(2, 1, 1)", "f:2,3", lambda m, x: x.repeat(2, 1, 1)),
    ("x.repeat(3)", "f:4", lambda m, x: x.repeat(3)),
    ("x.chunk(2)", "f:5,4", lambda m, x: x.chunk(2)),
    ("x.chunk(3, dim=1)", "f:5,4", lambda m, x: x.chunk(3, dim=1)),
    ("x.split(2)", "f:5,4", lambda m, x: x.split(2)),
    ("x.split([1, 3], dim=1)", "f:5,4", lambda m, x: x.split([1, 3], dim=1)),
    ("torch.split(x, 3, 1)", "f:2,7", lambda m, x: m.th.split(x, 3, 1)),
    ("torch.chunk(x, 4)", "f:6", lambda m, x: m.th.chunk(x, 4)),
    ("x.unbind(1)", "f:2,3", lambda m, x: x.unbind(1)),
    ("x.flip(0)", "f:3,4", lambda m, x: x.flip(0)),
    ("x.flip([0, 1])", "f:3,4", lambda m, x: x.flip([0, 1])),
    ("x.flip(-1)", "f:2,3,4", lambda m, x: x.flip(-1)),
    ("torch.flip(x, dims=(1,))", "f:2,3", lambda m, x: m.th.flip(x, dims=(1,))),
    ("x.roll(1)", "f:3,4", lambda m, x: x.roll(1)),
    ("x.roll(1, 0)", "f:3,4", lambda m, x: x.roll(1, 0)),
    ("x.roll((1, -2), (0, 1))", "f:3,4", lambda m, x: x.roll((1, -2), (0, 1))),
    ("torch.roll(x, -5)", "f:3,4", lambda m, x: m.th.roll(x, -5)),
    ("x.tril()", "f:4,4", lambda m, x: x.tril()),
    ("x.tril(1)", "f:3,5", lambda m, x: x.tril(1)),
    ("x.triu()", "f:4,4", lambda m, x: x.triu()),
    ("x.triu(-1)", "f:5,3", lambda m, x: x.triu(-1)),
    ("torch.tril(x) batched", "f:2,3,3", lambda m, x: m.th.tril(x)),
    ("x.view_as(y)", "f:3,4 f:2,6", lambda m, x, y: x.view_as(y) * y),
    ("x.reshape_as(y)", "f:3,4 f:4,3", lambda m, x, y: x.reshape_as(y)),
    ("x.gather(1, idx)", "f:3,4 i4:3,2", lambda m, x, idx: x.gather(1, idx)),
    ("x.gather(0, idx)", "f:3,4 i3:2,4", lambda m, x, idx: x.gather(0, idx)),
    ("torch.gather(x, 1, idx) repeated", "f:2,3 i3:2,5",
     lambda m, x, idx: m.th.gather(x, 1, idx)),
    ("torch.take_along_dim(x, idx, 1)", "f:2,3 i3:2,2",
     lambda m, x, idx: m.th.take_along_dim(x, idx, 1)),
    ("x.masked_fill(b, 0.0)", "f:3,4 b:3,4", lambda m, x, b: x.masked_fill(b, 0.0)),
    ("x.masked_fill(x > 0, -1)", "f:3,4", lambda m, x: x.masked_fill(x > 0, -1)),
    ("x.masked_fill(b, v) 0-d value", "f:3,4 b:3,4 f:", lambda m, x, b, v: x.masked_fill(b, v)),
    ("x.masked_fill(b, -inf) broadcast", "f:3,4 b:4",
     lambda m, x, b: x.masked_fill(b, float("-inf")).softmax(-1)),
    ("x.detach().clone().masked_fill_(b, 2.0)", "f:3,4 b:3,4",
     lambda m, x, b: x.detach().clone().masked_fill_(b, 2.0)),
    ("i.masked_fill(b, 7)", "i5:6 b:6", lambda m, i, b: i.masked_fill(b, 7)),
    # norms and reductions
    ("x.norm()", "f:3,4", lambda m, x: x.norm()),
    ("x.norm(1)", "f:3,4", lambda m, x: x.norm(1)),
    ("x.norm(p=3)", "f:3,4", lambda m, x: x.norm(p=3)),
    ("x.norm(dim=1)", "f:3,4", lambda m, x: x.norm(dim=1)),
    ("x.norm(float('inf'))", "f:3,4", lambda m, x: x.norm(float("inf"))),
    ("x.norm(dim=0, keepdim=True)", "f:3,4", lambda m, x: x.norm(dim=0, keepdim=True)),
    ("x.norm(p=1, dim=1)", "f:3,4", lambda m, x: x.norm(p=1, dim=1)),
    ("torch.norm(x)", "f:5", lambda m, x: m.th.norm(x)),
    ("b.any()", "b:3,4", lambda m, b: b.any()),
    ("b.all()", "b:3,4", lambda m, b: b.all()),
    ("(x > 0).any(dim=1)", "f:3,4", lambda m, x: (x > 0).any(dim=1)),
    ("(x > -1).all(0)", "f:3,4", lambda m, x: (x > -1).all(0)),
    ("torch.any(i)", "i2:5", lambda m, i: m.th.any(i)),
    ("x.prod()", "f:3,4", lambda m, x: x.prod()),
    ("x.prod(1)", "f:3,4", lambda m, x: x.prod(1)),
    ("x.prod(0, keepdim=True)", "f:3,4", lambda m, x: x.prod(0, keepdim=True)),
    ("(x * (x > 0)).prod(1) with zeros", "f:3,4", lambda m, x: (x * (x > 0)).prod(1)),
    ("i.prod()", "i4:5", lambda m, i: (i + 1).prod()),
    ("x.cumsum(0)", "f:3,4", lambda m, x: x.cumsum(0)),
    ("x.cumsum(dim=1)", "f:3,4", lambda m, x: x.cumsum(dim=1)),
    ("i.cumsum(0)", "i5:6", lambda m, i: i.cumsum(0)),
    ("b.cumsum(0)", "b:6", lambda m, b: b.cumsum(0)),
    ("torch.cumsum(x, -1)", "f:2,5", lambda m, x: m.th.cumsum(x, -1)),
    ("x.sum(dim=(0, 1))", "f:2,3,4", lambda m, x: x.sum(dim=(0, 1))),
    ("x.mean(dim=-1, keepdim=True)", "f:2,3,4", lambda m, x: x.mean(dim=-1, keepdim=True)),
    # rounding and friends
    ("x.floor()", "w:3,4", lambda m, x: x.floor()),
    ("x.ceil()", "w:3,4", lambda m, x: x.ceil()),
    ("x.round()", "w:3,4", lambda m, x: x.round()),
    ("x.round(decimals=1)", "w:3,4", lambda m, x: x.round(decimals=1)),
    ("torch.round(x * 2) half to even", "i9:8", lambda m, i: m.th.round((i - 4) * 0.5)),
    ("x.trunc()", "w:3,4", lambda m, x: x.trunc()),
    ("x.square()", "f:3,4", lambda m, x: x.square()),
    ("i.square()", "i5:4", lambda m, i: i.square()),
    ("x.sign()", "f:3,4", lambda m, x: x.sign()),
    ("torch.floor(i)", "i5:4", lambda m, i: m.th.floor(i)),
    # top-level functions
    ("torch.where(x > 0, x, y)", "f:3,4 f:3,4", lambda m, x, y: m.th.where(x > 0, x, y)),
    ("torch.where(b, x, 0.0)", "f:3,4 b:3,4", lambda m, x, b: m.th.where(b, x, 0.0)),
    ("torch.where(x > 0, x, y) broadcast", "f:3,4 f:4",
     lambda m, x, y: m.th.where(x > 0, x, y)),
    ("torch.where(b, 1.0, -1.0)", "b:3,4", lambda m, b: m.th.where(b, 1.0, -1.0)),
    ("torch.where(b, i, j)", "b:5 i5:5 i5:5", lambda m, b, i, j: m.th.where(b, i, j)),
    ("torch.where(b)", "b:3,4", lambda m, b: m.th.where(b)),
    ("x.where(b, y)", "f:3,4 b:3,4 f:3,4", lambda m, x, b, y: x.where(b, y)),
    ("torch.empty(2, 3).shape", "", lambda m: m.th.empty(2, 3).shape),
    ("torch.empty((2, 3)).dtype == float32", "",
     lambda m: m.th.empty((2, 3)).dtype == m.th.float32),
    ("torch.eye(3)", "", lambda m: m.th.eye(3)),
    ("torch.eye(2, 4)", "", lambda m: m.th.eye(2, 4)),
    ("torch.eye(3, dtype=float64)", "", lambda m: m.th.eye(3, dtype=m.th.float64)),
    ("torch.linspace(0, 1, 5)", "", lambda m: m.th.linspace(0, 1, 5)),
    ("torch.linspace(-2, 3.5, 7)", "", lambda m: m.th.linspace(-2, 3.5, 7)),
    ("torch.linspace(0, 1, 1)", "", lambda m: m.th.linspace(0, 1, 1)),
    ("torch.linspace(0, 10, 11, dtype=float64)", "",
     lambda m: m.th.linspace(0, 10, 11, dtype=m.th.float64)),
    ("torch.allclose(x, x + 1e-9)", "f:3,4", lambda m, x: m.th.allclose(x, x + 1e-9)),
    ("torch.allclose(x, y)", "f:3,4 f:3,4", lambda m, x, y: m.th.allclose(x, y)),
    ("x.allclose(y, atol=10)", "f:3,4 f:3,4", lambda m, x, y: x.allclose(y, atol=10)),
    ("torch.equal(x, x.clone())", "f:3,4", lambda m, x: m.th.equal(x, x.clone())),
    ("torch.equal(x, y)", "f:3,4 f:3,4", lambda m, x, y: m.th.equal(x, y)),
    ("torch.isnan(torch.log(x))", "f:3,4", lambda m, x: m.th.isnan(m.th.log(x))),
    ("torch.isfinite(1 / (x > 0))", "f:3,4", lambda m, x: m.th.isfinite(1 / (x > 0))),
    ("x.isinf()", "f:3,4", lambda m, x: (1 / (x > 0)).isinf()),
    ("torch.isclose(x, y, atol=1)", "f:3,4 f:3,4", lambda m, x, y: m.th.isclose(x, y, atol=1)),
    ("torch.einsum('ij,jk->ik', a, b)", "f:3,4 f:4,2",
     lambda m, a, b: m.th.einsum("ij,jk->ik", a, b)),
    ("torch.einsum('ij->ji', a)", "f:3,4", lambda m, a: m.th.einsum("ij->ji", a)),
    ("torch.einsum('ii->i', a)", "f:3,3", lambda m, a: m.th.einsum("ii->i", a)),
    ("torch.einsum('ii', a)", "f:3,3", lambda m, a: m.th.einsum("ii", a)),
    ("torch.einsum('bij,bjk->bik', a, b)", "f:2,3,4 f:2,4,2",
     lambda m, a, b: m.th.einsum("bij,bjk->bik", a, b)),
    ("torch.einsum('i,i->', a, b)", "f:4 f:4", lambda m, a, b: m.th.einsum("i,i->", a, b)),
    ("torch.einsum('i,j->ij', a, b)", "f:3 f:4", lambda m, a, b: m.th.einsum("i,j->ij", a, b)),
    ("torch.einsum('...ij->...ji', a)", "f:2,3,4", lambda m, a: m.th.einsum("...ij->...ji", a)),
    ("torch.einsum('ij,ij->i', a, b)", "f:3,4 f:3,4",
     lambda m, a, b: m.th.einsum("ij,ij->i", a, b)),
    ("torch.einsum('ij->', a)", "f:3,4", lambda m, a: m.th.einsum("ij->", a)),
    ("torch.einsum('bhd,hk->bk', a, b)", "f:2,3,4 f:3,5",
     lambda m, a, b: m.th.einsum("bhd,hk->bk", a, b)),
    ("torch.einsum('ij,jk', a, b) implicit", "f:3,4 f:4,2",
     lambda m, a, b: m.th.einsum("ij,jk", a, b)),
    ("torch.einsum('bn,anm,bm->ba', l, A, r)", "f:2,3 f:4,3,5 f:2,5",
     lambda m, l, A, r: m.th.einsum("bn,anm,bm->ba", l, A, r)),
    ("torch.einsum('iij,jk->ki', a, b)", "f:3,3,2 f:2,4",
     lambda m, a, b: m.th.einsum("iij,jk->ki", a, b)),
    ("torch.mm(a, b)", "f:3,4 f:4,2", lambda m, a, b: m.th.mm(a, b)),
    ("a.mm(b)", "f:2,3 f:3,3", lambda m, a, b: a.mm(b)),
    ("torch.bmm(a, b)", "f:2,3,4 f:2,4,2", lambda m, a, b: m.th.bmm(a, b)),
    ("torch.outer(a, b)", "f:3 f:4", lambda m, a, b: m.th.outer(a, b)),
    ("torch.dot(a, b)", "f:5 f:5", lambda m, a, b: m.th.dot(a, b)),
    ("torch.unique(i)", "i5:10", lambda m, i: m.th.unique(i)),
    ("torch.unique(i, return_counts=True)", "i5:10",
     lambda m, i: m.th.unique(i, return_counts=True)),
    ("torch.unique(i, return_inverse=True)", "i4:3,4",
     lambda m, i: m.th.unique(i, return_inverse=True)),
    ("i.unique()", "i3:7", lambda m, i: i.unique()),
    ("torch.unique(i, dim=0, return_inverse=True, return_counts=True)", "i2:6,2",
     lambda m, i: m.th.unique(i, dim=0, return_inverse=True, return_counts=True)),
    ("torch.unique(i, dim=1)", "i2:2,7", lambda m, i: m.th.unique(i, dim=1)),
    ("torch.bincount(i)", "i5:10", lambda m, i: m.th.bincount(i)),
    ("torch.bincount(i, minlength=7)", "i5:10", lambda m, i: m.th.bincount(i, minlength=7)),
    ("torch.bincount(i, weights=w)", "i5:10 f:10",
     lambda m, i, w: m.th.bincount(i, weights=w.detach())),
    ("torch.randperm(6).sort().values", "", lambda m: m.th.randperm(6).sort().values),
    ("torch.rand_like(x).shape", "f:3,4", lambda m, x: m.th.rand_like(x).shape),
    ("((torch.rand_like(x) >= 0) & (rand < 1)).all()", "f:3,4",
     lambda m, x: ((m.th.rand_like(x) >= 0) & (m.th.rand_like(x) < 1)).all()),
    ("torch.randn_like(x).dtype == x.dtype", "f:3",
     lambda m, x: m.th.randn_like(x).dtype == x.dtype),
    ("torch.full_like(x, 2.5)", "f:3,4", lambda m, x: m.th.full_like(x, 2.5)),
    ("torch.empty_like(x).shape", "f:3,4", lambda m, x: m.th.empty_like(x).shape),
    ("torch.as_tensor(np.arange(3.0))", "", lambda m: m.th.as_tensor(np.arange(3.0))),
    ("torch.as_tensor([1, 2, 3])", "", lambda m: m.th.as_tensor([1, 2, 3])),
    ("torch.as_tensor(x) is x", "f:3", lambda m, x: m.th.as_tensor(x) is x),
    ("torch.as_tensor(i, dtype=float32)", "i5:4",
     lambda m, i: m.th.as_tensor(i, dtype=m.th.float32)),
    ("torch.is_tensor(x)", "f:3", lambda m, x: m.th.is_tensor(x)),
    ("torch.is_tensor(np.zeros(2))", "", lambda m: m.th.is_tensor(np.zeros(2))),
    ("torch.concat([x, y])", "f:2,3 f:1,3", lambda m, x, y: m.th.concat([x, y])),
    ("torch.concat((x, y), dim=1)", "f:2,3 f:2,2", lambda m, x, y: m.th.concat((x, y), dim=1)),
    ("torch.cat([i, x]) promotes", "i3:3 f:2", lambda m, i, x: m.th.cat([i, x])),
    ("torch.numel(x)", "f:3,4", lambda m, x: m.th.numel(x)),
    ("torch.nonzero(b)", "b:3,4", lambda m, b: m.th.nonzero(b)),
    ("x.is_floating_point()", "f:3", lambda m, x: x.is_floating_point()),
    ("~b", "b:3,4", lambda m, b: ~b),
    ("b & c", "b:3,4 b:3,4", lambda m, b, c: b & c),
    ("b | c", "b:3,4 b:3,4", lambda m, b, c: b | c),
    ("torch.logical_not(i)", "i2:5", lambda m, i: m.th.logical_not(i)),
    # nn.functional: activations
    ("F.gelu(x)", "w:3,4", lambda m, x: m.F.gelu(x)),
    ("F.gelu(x, approximate='tanh')", "w:3,4", lambda m, x: m.F.gelu(x, approximate="tanh")),
    ("F.silu(x)", "w:3,4", lambda m, x: m.F.silu(x)),
    ("F.elu(x)", "w:3,4", lambda m, x: m.F.elu(x)),
    ("F.elu(x, alpha=0.5)", "w:3,4", lambda m, x: m.F.elu(x, alpha=0.5)),
    ("F.prelu(x, w) per channel", "f:2,3,4 u:3", lambda m, x, w: m.F.prelu(x, w)),
    ("F.prelu(x, w) shared", "f:2,3,4 u:1", lambda m, x, w: m.F.prelu(x, w)),
    ("F.softplus(x)", "w:3,4", lambda m, x: m.F.softplus(x)),
    ("F.softplus(x, beta=2, threshold=1)", "w:3,4",
     lambda m, x: m.F.softplus(x, beta=2, threshold=1)),
    ("F.logsigmoid(x)", "w:3,4", lambda m, x: m.F.logsigmoid(x)),
    ("F.one_hot(i, 5)", "i5:6", lambda m, i: m.F.one_hot(i, 5)),
    ("F.one_hot(i)", "i4:2,3", lambda m, i: m.F.one_hot(i)),
    ("F.one_hot(y, 10).float()", "i10:4", lambda m, y: m.F.one_hot(y, 10).float()),
    # nn.functional: padding
    ("F.pad(x, (1, 2))", "f:2,3,4", lambda m, x: m.F.pad(x, (1, 2))),
    ("F.pad(x, (1, 1, 2, 0), value=0.5)", "f:2,3,4",
     lambda m, x: m.F.pad(x, (1, 1, 2, 0), value=0.5)),
    ("F.pad(x, (-1, 1)) crops", "f:2,3,4", lambda m, x: m.F.pad(x, (-1, 1))),
    ("F.pad(x, (0, 0, 0, 0, 1, 1))", "f:2,3,4", lambda m, x: m.F.pad(x, (0, 0, 0, 0, 1, 1))),
    ("F.pad(x, (2, 1), mode='reflect')", "f:2,3,5",
     lambda m, x: m.F.pad(x, (2, 1), mode="reflect")),
    ("F.pad(x, (1, 1, 2, 1), mode='reflect')", "f:1,2,4,5",
     lambda m, x: m.F.pad(x, (1, 1, 2, 1), mode="reflect")),
    ("F.pad(x, (3, 3), mode='reflect') unbatched", "f:3,5",
     lambda m, x: m.F.pad(x, (3, 3), mode="reflect")),
    ("F.pad(x, (2, 2), mode='replicate')", "f:2,3,4",
     lambda m, x: m.F.pad(x, (2, 2), mode="replicate")),
    ("F.pad(x, (1, 2, 3, 0), mode='replicate')", "f:1,2,3,4",
     lambda m, x: m.F.pad(x, (1, 2, 3, 0), mode="replicate")),
    ("F.pad(x, (1, 2), mode='circular')", "f:2,3,4",
     lambda m, x: m.F.pad(x, (1, 2), mode="circular")),
    ("F.pad(x, (2, 1, 1, 2), mode='circular')", "f:1,2,3,4",
     lambda m, x: m.F.pad(x, (2, 1, 1, 2), mode="circular")),
    ("F.pad(x, (1, 1, 1, 0, 0, 1), mode='replicate') 3 dims", "f:1,1,2,3,3",
     lambda m, x: m.F.pad(x, (1, 1, 1, 0, 0, 1), mode="replicate")),
    ("F.pad(x, (1, 2, 1, 1, 1, 0), mode='reflect') 3 dims", "f:1,2,3,3,4",
     lambda m, x: m.F.pad(x, (1, 2, 1, 1, 1, 0), mode="reflect")),
    ("F.pad(x, (4, 4), mode='circular') whole period", "f:1,2,4",
     lambda m, x: m.F.pad(x, (4, 4), mode="circular")),
    # nn.functional: normalisation and resizing
    ("F.normalize(x)", "f:3,4", lambda m, x: m.F.normalize(x)),
    ("F.normalize(x, p=1, dim=0)", "f:3,4", lambda m, x: m.F.normalize(x, p=1, dim=0)),
    ("F.normalize(x, dim=-1)", "f:2,3,4", lambda m, x: m.F.normalize(x, dim=-1)),
    ("F.interpolate(x, scale_factor=2)", "f:1,2,3,3",
     lambda m, x: m.F.interpolate(x, scale_factor=2)),
    ("F.interpolate(x, size=(5, 7))", "f:1,2,3,4", lambda m, x: m.F.interpolate(x, size=(5, 7))),
    ("F.interpolate(x, size=(2, 3)) downsample", "f:1,2,5,7",
     lambda m, x: m.F.interpolate(x, size=(2, 3))),
    ("F.interpolate(x, scale_factor=2, mode='bilinear')", "f:1,2,3,3",
     lambda m, x: m.F.interpolate(x, scale_factor=2, mode="bilinear")),
    ("F.interpolate(x, size=(5, 3), mode='bilinear')", "f:2,1,3,4",
     lambda m, x: m.F.interpolate(x, size=(5, 3), mode="bilinear")),
    ("F.interpolate(x, size=(5, 7), mode='bilinear', align_corners=True)", "f:1,2,3,4",
     lambda m, x: m.F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)),
    ("F.interpolate(x, scale_factor=1.5, mode='bilinear')", "f:1,1,4,4",
     lambda m, x: m.F.interpolate(x, scale_factor=1.5, mode="bilinear")),
    ("F.interpolate(x, size=7, mode='linear')", "f:2,2,5",
     lambda m, x: m.F.interpolate(x, size=7, mode="linear")),
    ("F.interpolate(x, size=5, mode='nearest-exact')", "f:1,2,3",
     lambda m, x: m.F.interpolate(x, size=5, mode="nearest-exact")),
    ("F.interpolate(x, scale_factor=3)", "f:2,2,3",
     lambda m, x: m.F.interpolate(x, scale_factor=3)),
    ("F.layer_norm(x, (4,))", "f:3,4", lambda m, x: m.F.layer_norm(x, (4,))),
    ("F.layer_norm(x, (3, 4), w, b)", "f:2,3,4 f:3,4 f:3,4",
     lambda m, x, w, b: m.F.layer_norm(x, (3, 4), w, b)),
    ("F.layer_norm(x, [5], eps=1e-3)", "f:2,5", lambda m, x: m.F.layer_norm(x, [5], eps=1e-3)),
    ("F.group_norm(x, 2)", "f:2,4,3,3", lambda m, x: m.F.group_norm(x, 2)),
    ("F.group_norm(x, 3, w, b)", "f:2,6,5 f:6 f:6", lambda m, x, w, b: m.F.group_norm(x, 3, w, b)),
    ("F.group_norm(x, 1)", "f:2,3,4", lambda m, x: m.F.group_norm(x, 1)),
    # nn.functional: conv1d and embedding
    ("F.conv1d(x, w)", "f:2,3,7 f:4,3,3", lambda m, x, w: m.F.conv1d(x, w)),
    ("F.conv1d(x, w, b, stride=2, padding=1)", "f:2,3,7 f:4,3,3 f:4",
     lambda m, x, w, b: m.F.conv1d(x, w, b, stride=2, padding=1)),
    ("F.conv1d(x, w, dilation=2)", "f:1,2,9 f:3,2,3", lambda m, x, w: m.F.conv1d(x, w, dilation=2)),
    ("F.conv1d(x, w, groups=2)", "f:2,4,6 f:6,2,3", lambda m, x, w: m.F.conv1d(x, w, groups=2)),
    ("F.conv1d(x, w, padding='same')", "f:2,3,6 f:2,3,4",
     lambda m, x, w: m.F.conv1d(x, w, padding="same")),
    ("F.conv1d(x, w) unbatched", "f:3,7 f:4,3,3", lambda m, x, w: m.F.conv1d(x, w)),
    ("F.embedding(i, w)", "i6:2,3 f:6,4", lambda m, i, w: m.F.embedding(i, w)),
    ("F.embedding(i, w, padding_idx=0)", "i6:2,5 f:6,4",
     lambda m, i, w: m.F.embedding(i, w, padding_idx=0)),
    ("F.embedding(i, w, scale_grad_by_freq=True)", "i4:3,4 f:5,3",
     lambda m, i, w: m.F.embedding(i, w, scale_grad_by_freq=True)),
    ("F.embedding(i, w.detach().clone(), max_norm=1.0)", "i6:2,3 w:6,4",
     lambda m, i, w: m.F.embedding(i, w.detach().clone(), max_norm=1.0)),
    ("F.embedding(i, 2 * w, max_norm=0.5, norm_type=1.0) grad", "i6:5 f:6,3",
     lambda m, i, w: m.F.embedding(i, (2 * w).detach().requires_grad_(), max_norm=0.5,
                                   norm_type=1.0)),
    ("F.interpolate(x, scale_factor=1.7, recompute_scale_factor=True)", "f:1,2,3,4",
     lambda m, x: m.F.interpolate(x, scale_factor=1.7, recompute_scale_factor=True)),
    ("F.interpolate(x, scale_factor=1.7, mode='bilinear', recompute_scale_factor=True)",
     "f:1,1,3,4", lambda m, x: m.F.interpolate(x, scale_factor=1.7, mode="bilinear",
                                               recompute_scale_factor=True)),
    # nn.functional: losses
    ("F.binary_cross_entropy(p, t)", "u:3,4 u:3,4", lambda m, p, t: m.F.binary_cross_entropy(p, t)),
    ("F.binary_cross_entropy(p, t, w)", "u:3,4 u:3,4 p:4",
     lambda m, p, t, w: m.F.binary_cross_entropy(p, t, w.detach())),
    ("F.binary_cross_entropy(p, t, reduction='sum')", "u:5 u:5",
     lambda m, p, t: m.F.binary_cross_entropy(p, t, reduction="sum")),
    ("F.binary_cross_entropy(sigmoid(x), b.float(), reduction='none')", "f:2,3 b:2,3",
     lambda m, x, b: m.F.binary_cross_entropy(m.th.sigmoid(x), b.to(x.dtype), reduction="none")),
    ("F.binary_cross_entropy_with_logits(x, t)", "w:3,4 u:3,4",
     lambda m, x, t: m.F.binary_cross_entropy_with_logits(x, t)),
    ("F.binary_cross_entropy_with_logits(x, t, pos_weight=pw)", "w:3,4 u:3,4 p:4",
     lambda m, x, t, pw: m.F.binary_cross_entropy_with_logits(x, t, pos_weight=pw.detach())),
    ("F.binary_cross_entropy_with_logits(x, t, weight=w, reduction='none')", "w:3,4 u:3,4 p:3,1",
     lambda m, x, t, w: m.F.binary_cross_entropy_with_logits(x, t, weight=w.detach(),
                                                             reduction="none")),
    ("F.binary_cross_entropy_with_logits(x, t, w, pos_weight=pw, reduction='sum')",
     "w:2,3 u:2,3 p:3 p:3",
     lambda m, x, t, w, pw: m.F.binary_cross_entropy_with_logits(
         x, t, w.detach(), pos_weight=pw.detach(), reduction="sum")),
    ("F.binary_cross_entropy_with_logits(50 * x, t) large logits", "f:6 u:6",
     lambda m, x, t: m.F.binary_cross_entropy_with_logits(50 * x, t)),
    ("F.l1_loss(x, y)", "f:3,4 f:3,4", lambda m, x, y: m.F.l1_loss(x, y)),
    ("F.l1_loss(x, y, reduction='sum')", "f:3,4 f:3,4",
     lambda m, x, y: m.F.l1_loss(x, y, reduction="sum")),
    ("F.smooth_l1_loss(x, y)", "w:3,4 f:3,4", lambda m, x, y: m.F.smooth_l1_loss(x, y)),
    ("F.smooth_l1_loss(x, y, beta=0.5)", "w:3,4 f:3,4",
     lambda m, x, y: m.F.smooth_l1_loss(x, y, beta=0.5)),
    ("F.smooth_l1_loss(x, y, reduction='none', beta=2.0)", "w:3,4 f:3,4",
     lambda m, x, y: m.F.smooth_l1_loss(x, y, reduction="none", beta=2.0)),
    ("F.smooth_l1_loss(x, y, beta=0.0)", "w:3,4 f:3,4",
     lambda m, x, y: m.F.smooth_l1_loss(x, y, beta=0.0)),
    ("F.huber_loss(x, y, delta=0.5)", "w:3,4 f:3,4",
     lambda m, x, y: m.F.huber_loss(x, y, delta=0.5)),
    ("F.kl_div(log_softmax(x), softmax(y), reduction='batchmean')", "f:3,4 f:3,4",
     lambda m, x, y: m.F.kl_div(m.F.log_softmax(x, 1), m.F.softmax(y, 1), reduction="batchmean")),
    ("F.kl_div(x, t)", "f:3,4 u:3,4", lambda m, x, t: m.F.kl_div(x, t)),
    ("F.kl_div(x, t, reduction='sum', log_target=True)", "f:3,4 f:3,4",
     lambda m, x, t: m.F.kl_div(x, t, reduction="sum", log_target=True)),
    ("F.kl_div(x, t, reduction='none') zero targets", "f:3,4 u:3,4",
     lambda m, x, t: m.F.kl_div(x, (t * (t > 0.5)).detach(), reduction="none")),
    ("F.mse_loss(x, y, reduction='sum')", "f:3,4 f:3,4",
     lambda m, x, y: m.F.mse_loss(x, y, reduction="sum")),
    ("F.nll_loss(F.log_softmax(x, 1), y)", "f:4,5 i5:4",
     lambda m, x, y: m.F.nll_loss(m.F.log_softmax(x, 1), y)),
    ("F.cross_entropy(x, y, label_smoothing=0.1)", "f:4,5 i5:4",
     lambda m, x, y: m.F.cross_entropy(x, y, label_smoothing=0.1)),
    # layers
    ("nn.GELU()(x)", "w:3,4", lambda m, x: m.nn.GELU()(x)),
    ("nn.GELU('tanh')(x)", "w:3,4", lambda m, x: m.nn.GELU("tanh")(x)),
    ("nn.SiLU()(x)", "w:3,4", lambda m, x: m.nn.SiLU()(x)),
    ("nn.ELU(alpha=2.0)(x)", "w:3,4", lambda m, x: m.nn.ELU(alpha=2.0)(x)),
    ("nn.PReLU()(x)", "f:2,3,4", lambda m, x: m.nn.PReLU().to(x.dtype)(x)),
    ("nn.PReLU(3, init=0.1)(x)", "f:2,3,4", lambda m, x: m.nn.PReLU(3, init=0.1).to(x.dtype)(x)),
    ("nn.Softplus(beta=3)(x)", "f:3,4", lambda m, x: m.nn.Softplus(beta=3)(x)),
    ("nn.LayerNorm(4)(x)", "f:2,3,4", lambda m, x: m.nn.LayerNorm(4).to(x.dtype)(x)),
    ("nn.LayerNorm([3, 4], elementwise_affine=False)(x)", "f:2,3,4",
     lambda m, x: m.nn.LayerNorm([3, 4], elementwise_affine=False)(x)),
    ("nn.LayerNorm(4) with weights", "f:2,4 f:4 f:4",
     lambda m, x, w, b: _layer(m.nn.LayerNorm(4), w, b)(x)),
    ("nn.GroupNorm(2, 4)(x)", "f:2,4,3,3", lambda m, x: m.nn.GroupNorm(2, 4).to(x.dtype)(x)),
    ("nn.GroupNorm(3, 6, affine=False)(x)", "f:2,6,4",
     lambda m, x: m.nn.GroupNorm(3, 6, affine=False)(x)),
    ("nn.Upsample(scale_factor=2)(x)", "f:1,2,3,3", lambda m, x: m.nn.Upsample(scale_factor=2)(x)),
    ("nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)(x)", "f:1,2,3,3",
     lambda m, x: m.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(x)),
    ("nn.Upsample(size=(4, 6), mode='bilinear')(x)", "f:1,1,3,3",
     lambda m, x: m.nn.Upsample(size=(4, 6), mode="bilinear")(x)),
    ("nn.Conv1d(3, 4, 3) with weights", "f:2,3,8 f:4,3,3 f:4",
     lambda m, x, w, b: _layer(m.nn.Conv1d(3, 4, 3), w, b)(x)),
    ("nn.Conv1d(3, 2, 3, padding=2, padding_mode='reflect')", "f:2,3,8 f:2,3,3 f:2",
     lambda m, x, w, b: _layer(m.nn.Conv1d(3, 2, 3, padding=2, padding_mode="reflect"), w, b)(x)),
    ("nn.Conv2d(2, 3, 3, padding=1, padding_mode='reflect')", "f:2,2,5,5 f:3,2,3,3 f:3",
     lambda m, x, w, b: _layer(m.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), w, b)(x)),
    ("nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode='replicate')", "f:1,2,4,5 f:3,2,3,3 f:3",
     lambda m, x, w, b: _layer(m.nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="replicate"),
                               w, b)(x)),
    ("nn.Conv2d(2, 3, 3, padding=1, padding_mode='circular')", "f:2,2,4,4 f:3,2,3,3 f:3",
     lambda m, x, w, b: _layer(m.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), w, b)(x)),
    ("nn.Conv2d(2, 2, 4, padding='same', padding_mode='reflect')", "f:1,2,6,6 f:2,2,4,4 f:2",
     lambda m, x, w, b: _layer(m.nn.Conv2d(2, 2, 4, padding="same", padding_mode="reflect"),
                               w, b)(x)),
    ("nn.Conv2d(2, 3, 3, stride=2, padding=1, padding_mode='circular')", "f:1,2,5,5 f:3,2,3,3 f:3",
     lambda m, x, w, b: _layer(m.nn.Conv2d(2, 3, 3, stride=2, padding=1,
                                           padding_mode="circular"), w, b)(x)),
    ("nn.Embedding(6, 3, padding_idx=0) with weights", "i6:2,4 f:6,3",
     lambda m, i, w: _layer(m.nn.Embedding(6, 3, padding_idx=0), w)(i)),
    ("nn.LazyLinear(3)", "f:2,5 f:3,5 f:3", lambda m, x, w, b: _lazy(m.nn.LazyLinear(3), x, w, b)),
    ("nn.LazyConv2d(4, 3, padding=1)", "f:2,3,5,5 f:4,3,3,3 f:4",
     lambda m, x, w, b: _lazy(m.nn.LazyConv2d(4, 3, padding=1), x, w, b)),
    ("nn.LazyBatchNorm2d()", "f:2,3,4,4 f:3 f:3",
     lambda m, x, w, b: _lazy(m.nn.LazyBatchNorm2d(), x, w, b)),
    ("nn.BCEWithLogitsLoss()(x, t)", "w:3,4 u:3,4", lambda m, x, t: m.nn.BCEWithLogitsLoss()(x, t)),
    ("nn.BCEWithLogitsLoss(pos_weight=pw)(x, t)", "w:3,4 u:3,4 p:4",
     lambda m, x, t, pw: m.nn.BCEWithLogitsLoss(pos_weight=pw.detach())(x, t)),
    ("nn.BCELoss()(p, t)", "u:3,4 u:3,4", lambda m, p, t: m.nn.BCELoss()(p, t)),
    ("nn.L1Loss()(x, y)", "f:3,4 f:3,4", lambda m, x, y: m.nn.L1Loss()(x, y)),
    ("nn.SmoothL1Loss(beta=0.5)(x, y)", "w:3,4 f:3,4",
     lambda m, x, y: m.nn.SmoothL1Loss(beta=0.5)(x, y)),
    ("nn.HuberLoss(delta=2.0)(x, y)", "w:3,4 f:3,4",
     lambda m, x, y: m.nn.HuberLoss(delta=2.0)(x, y)),
    ("nn.KLDivLoss(reduction='batchmean')(x, t)", "f:3,4 u:3,4",
     lambda m, x, t: m.nn.KLDivLoss(reduction="batchmean")(x, t)),
    ("nn.KLDivLoss(log_target=True)(x, t)", "f:3,4 f:3,4",
     lambda m, x, t: m.nn.KLDivLoss(log_target=True)(x, t)),
    # containers
    ("nn.ModuleDict keys and forward", "f:3,4",
     lambda m, x: [list(m.nn.ModuleDict({"act": m.nn.Tanh(), "out": m.nn.ReLU()}).keys()),
                   m.nn.ModuleDict({"act": m.nn.Tanh()})["act"](x)]),
    ("nn.ParameterList state_dict keys", "f:3 f:2",
     lambda m, a, b: list(m.nn.ParameterList([m.nn.Parameter(a.detach()),
                                              m.nn.Parameter(b.detach())]).state_dict())),
    ("nn.ParameterDict values", "f:3",
     lambda m, a: [list(m.nn.ParameterDict({"w": m.nn.Parameter(a.detach() * 2)}).state_dict()),
                   m.nn.ParameterDict({"w": m.nn.Parameter(a.detach() * 2)})["w"].detach()]),
    ("nn.Sequential.insert", "",
     lambda m: _names(m.nn.Sequential(m.nn.ReLU(), m.nn.Tanh()).insert(1, m.nn.Sigmoid()))),
    ("nn.Sequential.insert(0) names", "",
     lambda m: list(m.nn.Sequential(m.nn.ReLU(), m.nn.Linear(2, 2)).insert(0, m.nn.Tanh())
                    .state_dict())),
    ("nn.Sequential.insert(-1)", "",
     lambda m: _names(m.nn.Sequential(m.nn.ReLU(), m.nn.Tanh()).insert(-1, m.nn.Sigmoid()))),
    ("nn.Sequential.extend", "",
     lambda m: _names(m.nn.Sequential(m.nn.ReLU()).extend([m.nn.Tanh(), m.nn.GELU()]))),
    ("nn.Sequential.append", "",
     lambda m: _names(m.nn.Sequential(m.nn.ReLU()).append(m.nn.ELU()))),
    # nn.utils
    ("clip_grad_norm_(p, 0.5)", "f:3,4 f:3,4", lambda m, x, g: _clip(m, x, g, max_norm=0.5)),
    ("clip_grad_norm_(p, 100) unchanged", "f:3,4 f:3,4",
     lambda m, x, g: _clip(m, x, g, max_norm=100.0)),
    ("clip_grad_norm_(p, 0.5, norm_type=1)", "f:3,4 f:3,4",
     lambda m, x, g: _clip(m, x, g, max_norm=0.5, norm_type=1)),
    ("clip_grad_norm_(p, 0.5, norm_type=inf)", "f:3,4 f:3,4",
     lambda m, x, g: _clip(m, x, g, max_norm=0.5, norm_type=float("inf"))),
    ("clip_grad_value_(p, 0.3)", "f:3,4 f:3,4", lambda m, x, g: _clip_value(m, x, g, 0.3)),
    # optimizers
    ("optim.Adagrad", "p:3,4 f:3,4", lambda m, x, y: _optimize(m, "Adagrad", x, y, lr=0.1)),
    ("optim.Adagrad(lr_decay, weight_decay, initial_accumulator_value)", "p:3,4 f:3,4",
     lambda m, x, y: _optimize(m, "Adagrad", x, y, lr=0.1, lr_decay=0.05, weight_decay=0.1,
                               initial_accumulator_value=0.2)),
    ("optim.Adadelta", "p:3,4 f:3,4", lambda m, x, y: _optimize(m, "Adadelta", x, y)),
    ("optim.Adadelta(lr=0.5, rho=0.8, weight_decay=0.1)", "p:3,4 f:3,4",
     lambda m, x, y: _optimize(m, "Adadelta", x, y, lr=0.5, rho=0.8, weight_decay=0.1)),
    ("optim.Adamax", "p:3,4 f:3,4", lambda m, x, y: _optimize(m, "Adamax", x, y)),
    ("optim.Adamax(weight_decay=0.1, maximize=True)", "p:3,4 f:3,4",
     lambda m, x, y: _optimize(m, "Adamax", x, y, weight_decay=0.1, maximize=True)),
    ("optim.NAdam", "p:3,4 f:3,4", lambda m, x, y: _optimize(m, "NAdam", x, y)),
    ("optim.NAdam(decoupled_weight_decay=True)", "p:3,4 f:3,4",
     lambda m, x, y: _optimize(m, "NAdam", x, y, weight_decay=0.1, decoupled_weight_decay=True)),
    ("optim.RAdam 8 steps (past rho_t > 5)", "p:3,4 f:3,4",
     lambda m, x, y: _optimize(m, "RAdam", x, y, steps=8, lr=0.01)),
    ("optim.RAdam(weight_decay=0.1)", "p:3,4 f:3,4",
     lambda m, x, y: _optimize(m, "RAdam", x, y, steps=7, weight_decay=0.1)),
    # learning-rate schedules
    ("LambdaLR", "", lambda m: _schedule(m, lambda s, o: s.LambdaLR(o, lambda e: 0.9 ** e))),
    ("MultiplicativeLR", "",
     lambda m: _schedule(m, lambda s, o: s.MultiplicativeLR(o, lambda e: 0.95))),
    ("ExponentialLR", "", lambda m: _schedule(m, lambda s, o: s.ExponentialLR(o, gamma=0.8))),
    ("ConstantLR", "",
     lambda m: _schedule(m, lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=3))),
    ("PolynomialLR", "",
     lambda m: _schedule(m, lambda s, o: s.PolynomialLR(o, total_iters=6, power=2.0))),
    ("CosineAnnealingWarmRestarts", "",

     lambda m: _schedule(m, lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                         eta_min=0.01))),
    ("SequentialLR", "", lambda m: _schedule(m, lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=3), s.ExponentialLR(o, gamma=0.8)], [3]))),
    ("ChainedScheduler", "", lambda m: _schedule(m, lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, factor=0.5, total_iters=4), s.ExponentialLR(o, gamma=0.9)]))),
    ("StepLR.step(epoch)", "", lambda m: _schedule(
        m, lambda s, o: s.StepLR(o, 3, 0.5), epochs=[3, 1, 7, 2, 9, 10, 0, 4, 5, 11])),
    ("CosineAnnealingLR.step(epoch)", "", lambda m: _schedule(
        m, lambda s, o: s.CosineAnnealingLR(o, 5), epochs=[3, 1, 7, 2, 9, 10, 0, 4, 5, 11])),
    ("MultiStepLR.step(epoch)", "", lambda m: _schedule(
        m, lambda s, o: s.MultiStepLR(o, [2, 4], 0.5), epochs=[3, 1, 7, 2, 9, 10, 0, 4, 5, 11])),
    ("ExponentialLR.step(epoch)", "", lambda m: _schedule(
        m, lambda s, o: s.ExponentialLR(o, 0.9), epochs=[3, 1, 7, 2, 9, 10, 0, 4, 5, 11])),
    ("CosineAnnealingWarmRestarts.step(fractional epoch)", "", lambda m: _schedule(
        m, lambda s, o: s.CosineAnnealingWarmRestarts(o, 3, 2),
        epochs=[0.5, 1.5, 2.5, 3.5, 4, 8.25, 9, 20, 0, 2])),
]

# rows whose backward is, by design, not the derivative of their forward
NOT_A_GRADIENT = {"F.embedding(i, w, scale_grad_by_freq=True)"}

NAMES = [name for name, _, _ in ROWS]
assert len(set(NAMES)) == len(NAMES), "row names must be unique"


# ----- running a row ---------------------------------------------------------------------------

def _inputs(name, spec, dtype):
    """The row's inputs as NumPy arrays, from a seed fixed by its name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = []
    for item in spec.split():
        kind, _, shape = item.partition(":")
        shape = tuple(int(s) for s in shape.split(",")) if shape else ()
        if kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif kind == "w":
            arrays.append((3 * rng.standard_normal(shape)).astype(dtype))
        elif kind == "p":
            arrays.append(rng.uniform(0.5, 2.0, shape).astype(dtype))
        elif kind == "u":
            arrays.append(rng.uniform(0.05, 0.95, shape).astype(dtype))
        elif kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(rng.integers(0, int(kind[1:]), shape).astype(np.int64))
    return arrays


def _leaves(value, is_tensor):
    """Every tensor, number or string in a (nested) result, in order."""
    if is_tensor(value):
        return [value]
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _leaves(item, is_tensor)]
    return [value]


def run_row(lib, name, spec, fn, dtype):
    """(outputs, gradients) of a row on ``lib`` ("torch" or "minicnn"): NumPy arrays, and per
    floating input its gradient (None where it got none)."""
    if lib == "torch":
        m = SimpleNamespace(th=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim)
        make = lambda a: torch.tensor(a, requires_grad=a.dtype.kind == "f")  # noqa: E731
        is_tensor, to_numpy = torch.is_tensor, lambda t: t.detach().numpy().copy()
        torch.manual_seed(0)
    else:
        m = MC
        make = lambda a: minicnn.tensor(a, requires_grad=a.dtype.kind == "f")  # noqa: E731
        is_tensor, to_numpy = (lambda v: isinstance(v, Tensor)), lambda t: t.numpy().copy()
        minicnn.manual_seed(0)
    inputs = [make(a) for a in _inputs(name, spec, dtype)]
    with warnings.catch_warnings():     # the warnings PyTorch gives (kl_div's 'mean'), as it
        warnings.simplefilter("ignore")
        leaves = _leaves(fn(m, *inputs), is_tensor)
    outputs = [to_numpy(v) if is_tensor(v) else np.asarray(v) for v in leaves]
    differentiable = [v for v in leaves if is_tensor(v) and v.requires_grad]
    if differentiable:
        rng = np.random.default_rng(zlib.crc32(name.encode()) + 1)
        loss = sum((v * make_upstream(lib, rng, v)).sum() for v in differentiable)
        loss.backward()
    grads = [None if x.grad is None else to_numpy(x.grad) for x in inputs
             if x.dtype in ((torch.float32, torch.float64) if lib == "torch"
                            else (np.float32, np.float64))]
    return outputs, grads


def make_upstream(lib, rng, value):
    g = rng.standard_normal(tuple(value.shape))
    if lib == "torch":
        return torch.tensor(g, dtype=value.dtype)
    return minicnn.tensor(g.astype(value.dtype))


def _compare(actual, expected, what):
    outputs, grads = actual
    expected_outputs, expected_grads = expected
    assert len(outputs) == len(expected_outputs), f"{what}: number of outputs"
    for k, (a, e) in enumerate(zip(outputs, expected_outputs)):
        assert a.dtype == e.dtype, f"{what}: output {k} dtype {a.dtype}, expected {e.dtype}"
        assert a.shape == e.shape, f"{what}: output {k} shape {a.shape}, expected {e.shape}"
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, e, err_msg=f"{what}: output {k}",
                                       **TOLERANCE[a.dtype.name])
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"{what}: output {k}")
    assert [g is None for g in grads] == [g is None for g in expected_grads], \
        f"{what}: which inputs got a gradient"
    for k, (a, e) in enumerate(zip(grads, expected_grads)):
        if a is not None:
            assert a.dtype == e.dtype, f"{what}: gradient {k} dtype"
            np.testing.assert_allclose(a, e, err_msg=f"{what}: gradient {k}",
                                       **TOLERANCE[a.dtype.name])


def _stored(data, name, dtype):
    """A case's outputs and gradients from the stored file: the manifest gives each array's
    dtype, shape and offset into the flat buffer of that dtype (strings are in the manifest)."""
    case = data["manifest"][f"{name}|{dtype}"]

    def unpack(entry):
        if entry is None:
            return None
        if "text" in entry:
            return np.asarray(entry["text"])
        count = math.prod(entry["shape"])
        flat = data[entry["dtype"]][entry["at"]:entry["at"] + count]
        return flat.reshape(entry["shape"])
    return [unpack(e) for e in case["outputs"]], [unpack(e) for e in case["grads"]]


CASES = [pytest.param(name, spec, fn, dtype, id=f"{name}-{dtype}")
         for name, spec, fn in ROWS for dtype in ("float32", "float64")]


@pytest.fixture(scope="module")
def stored():
    with np.load(DATA, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["manifest"] = json.loads(str(arrays["manifest"]))
    return arrays


def test_table_has_200_rows():
    assert len(ROWS) >= 200


@pytest.mark.parametrize("name, spec, fn, dtype", CASES)
def test_row_matches_stored_pytorch_values(stored, name, spec, fn, dtype):
    _compare(run_row("minicnn", name, spec, fn, dtype), _stored(stored, name, dtype), name)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("name, spec, fn, dtype", CASES)
def test_row_matches_pytorch(name, spec, fn, dtype):
    _compare(run_row("minicnn", name, spec, fn, dtype), run_row("torch", name, spec, fn, dtype),
             name)


@pytest.mark.parametrize("name, spec, fn", [pytest.param(*row, id=row[0]) for row in ROWS])
def test_row_gradcheck(name, spec, fn):
    """Every row with a float64 output that depends on an input passes minicnn's float64
    gradient check, for the inputs that the row differentiates (a row may detach some, as a
    layer's loaded weights)."""
    if name in NOT_A_GRADIENT:
        pytest.skip("the row's gradient is scaled by design")
    inputs = [minicnn.tensor(a, requires_grad=a.dtype.kind == "f")
              for a in _inputs(name, spec, np.float64)]

    def differentiable(*args):
        minicnn.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            leaves = _leaves(fn(MC, *args), lambda v: isinstance(v, Tensor))
        return [v for v in leaves if isinstance(v, Tensor) and v.dtype == np.float64]

    outputs = [v for v in differentiable(*inputs) if v.requires_grad]
    if not outputs:
        pytest.skip("no float64 output depends on an input")
    sum(v.sum() for v in outputs).backward()
    for x in inputs:
        x.requires_grad_(x.grad is not None)
        x.grad = None
    result = gradcheck(differentiable, inputs, atol=1e-7)
    assert result, str(result)


def regenerate():
    """Write tests/data/pytorch_conformance.npz from PyTorch (the stored expected values): one
    flat array per dtype and a JSON manifest that says where each case's arrays lie."""
    buffers, manifest = {}, {}

    def pack(array):
        if array is None:
            return None
        if array.dtype.kind == "U":
            return {"text": array.tolist()}
        chunks = buffers.setdefault(array.dtype.name, [])
        at = sum(chunk.size for chunk in chunks)
        chunks.append(array.reshape(-1))
        return {"dtype": array.dtype.name, "shape": list(array.shape), "at": at}

    for name, spec, fn in ROWS:
        for dtype in ("float32", "float64"):
            outputs, grads = run_row("torch", name, spec, fn, dtype)
            manifest[f"{name}|{dtype}"] = {"outputs": [pack(o) for o in outputs],
                                           "grads": [pack(g) for g in grads]}
    arrays = {key: np.concatenate(chunks) for key, chunks in buffers.items()}
    DATA.parent.mkdir(exist_ok=True)
    partial = DATA.with_suffix(".partial.npz")
    np.savez_compressed(partial, manifest=np.asarray(json.dumps(manifest)), **arrays)
    partial.replace(DATA)
    print(f"wrote {len(ROWS)} rows to {DATA} ({DATA.stat().st_size:,} bytes), "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    if torch is None:
        sys.exit("regenerating the stored values needs PyTorch")
    regenerate()
