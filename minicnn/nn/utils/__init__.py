"""Utilities on parameters: gradient clipping and flattening (``torch.nn.utils``)."""

from minicnn.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from minicnn.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
