"""Exercise fc_net: the loss and gradients of a fully connected net of any depth, with dropout
and batch norm options (CS231n's FullyConnectedNet).

    {affine - [batch norm] - ReLU - [dropout]} x (L - 1) - affine - softmax cross-entropy

Build it from your layers (affine_relu, batch_norm_1d, dropout, softmax_cross_entropy: paste
them into this file or import them from their files). Fill in ``fc_net_loss``, then run
``minicnn check fc_net.py``.
"""

import numpy as np

EXERCISE = "fc_net"


def fc_net_loss(params, x, labels, reg=0.0, normalization=None, dropout_masks=None, eps=1e-5):
    """params: "W1" (D, H_1), "b1" (H_1,), ..., "WL" (H_{L-1}, K), "bL" (K,); with
    normalization="batchnorm" the hidden layers l < L have "gamma1", "beta1", ... (H_l,)
    instead of a bias (batch norm's mean subtraction would cancel it, so its gradient would
    be 0, as for PyTorch's bias=False before BatchNorm). L is the number of W's in params.
    x (N, D); labels (N,) integers in [0, K); dropout_masks: None, or one array (N, H_l) per
    hidden layer, already scaled by 1/(1 - p) (inverted dropout: multiply the ReLU's output by
    it).

    Batch norm is in training mode (the batch's mean and biased variance, eps as given).
    loss = mean cross-entropy + 0.5 * reg * sum over l of sum(W_l^2) (CS231n's convention: no
    regularisation of b, gamma, beta) -> (loss (a float), grads (dict, params' keys and
    shapes)). Derive the backward pass layer by layer; params must stay unchanged.
    """
    raise NotImplementedError("fc_net_loss: your code here")


# In a Jupyter notebook: run this file in a cell (%run fc_net.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("fc_net", globals()))
