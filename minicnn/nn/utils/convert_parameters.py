"""Parameters to one flat vector and back, as torch.nn.utils."""

from minicnn import ops


def parameters_to_vector(parameters):
    """One 1-d tensor of every parameter's values, in order (in the graph)."""
    return ops.cat([ops.reshape(p, -1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Make consecutive slices of the 1-d ``vec`` the parameters' values: as PyTorch, each
    parameter's ``.data`` becomes a view of vec (a graph that saved the old values keeps them)."""
    offset = 0
    for param in parameters:
        n = param.numel()
        param.data = vec.array[offset:offset + n].reshape(param.shape)
        offset += n
