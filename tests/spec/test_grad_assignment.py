"""``x.grad = g`` and ``float(x)`` / ``int(x)`` / ``x.item()`` with PyTorch's checks and errors
(messages as PyTorch 2.13 prints them)."""

import pytest

import minicnn as mc


def test_grad_of_another_size_is_refused():
    x = mc.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"attempting to assign a gradient of size '\[3, 2\]' "
                       r"to a tensor of size '\[2, 3\]'\. Please ensure that the gradient and the "
                       "tensor are the same size"):
        x.grad = mc.ones(3, 2)
    assert x.grad is None


@pytest.mark.parametrize("grad_dtype, tensor_dtype, grad_name, tensor_name", [
    (mc.float64, mc.float32, "double", "Float"),
    (mc.float32, mc.float64, "float", "Double"),
    (mc.int64, mc.float32, "long int", "Float"),
])
def test_grad_of_another_dtype_is_refused(grad_dtype, tensor_dtype, grad_name, tensor_name):
    x = mc.ones(3, dtype=tensor_dtype, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"attempting to assign a gradient with dtype "
                       f"'{grad_name}' to a tensor with grad_dtype '{tensor_name}'"):
        x.grad = mc.ones(3, dtype=grad_dtype)


def test_grad_must_be_a_tensor_or_none():
    x = mc.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but got "
                       "grad of type list"):
        x.grad = [1.0, 2.0, 3.0]
    x.grad = mc.full((3,), 2.0)
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    x.grad = None
    assert x.grad is None


def test_an_assigned_grad_is_what_backward_accumulates_into():
    x = mc.ones(3, requires_grad=True)
    x.grad = mc.full((3,), 2.0)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0, 5.0]


@pytest.mark.parametrize("convert", [float, int])
def test_python_scalar_of_several_elements_is_a_value_error(convert):
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python "
                       "scalars"):
        convert(mc.ones(2))
    assert convert(mc.full((1, 1), 3.0)) == 3


def test_item_of_several_elements():
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        mc.ones(2).item()


def test_the_same_as_pytorch():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(lambda: float(mc.ones(2)), lambda: float(torch.ones(2))),
                         (lambda: mc.ones(2).item(), lambda: torch.ones(2).item())]:
        with pytest.raises(Exception) as expected:
            theirs()
        with pytest.raises(type(expected.value), match=str(expected.value)):
            ours()
    t, m = torch.ones(2, 3, requires_grad=True), mc.ones(2, 3, requires_grad=True)
    for value in [(torch.ones(3, 2), mc.ones(3, 2)),
                  (torch.ones(2, 3, dtype=torch.float64), mc.ones(2, 3, dtype=mc.float64))]:
        with pytest.raises(RuntimeError) as expected:
            t.grad = value[0]
        with pytest.raises(RuntimeError) as got:
            m.grad = value[1]
        assert str(expected.value).startswith(str(got.value).split(". The")[0])
