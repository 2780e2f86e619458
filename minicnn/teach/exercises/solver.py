"""Exercise solver: the training loop (CS231n's Solver), proved by overfitting a small set.

A model comes as two functions, ``loss_fn(params, X, y) -> (loss, grads)`` and
``predict(params, X) -> scores (N, K)``. Train it with minibatch SGD with momentum (your
sgd_momentum, in PyTorch's form), record the losses and accuracies, and keep the parameters
of the best validation accuracy. The check trains a two-layer net on 50 images, which a right
loop overfits to 100% training accuracy. Fill in both functions, then run
``minicnn check solver.py``.
"""

import numpy as np

EXERCISE = "solver"


def accuracy(predict, params, X, y):
    """The fraction (a float in [0, 1]) of the rows of X whose highest score is its label y."""
    raise NotImplementedError("accuracy: your code here")


def train(loss_fn, predict, params, X, y, X_val, y_val, num_epochs=10, batch_size=25, lr=1e-2,
          momentum=0.9, seed=0):
    """params: dict of arrays (the caller's: leave them unchanged); X (N, ...), y (N,);
    X_val, y_val likewise -> (params, best_params, loss_history, train_acc_history,
    val_acc_history): the final and the best (by validation accuracy, the first best on a tie)
    parameters as new dicts, the loss of every minibatch, and both accuracies after each epoch.

    Each epoch: order = rng.permutation(N) with rng = np.random.default_rng(seed) made once
    before the first epoch; minibatches X[order[i:i + batch_size]] for i = 0, batch_size, ...;
    per minibatch loss, grads = loss_fn(params, Xb, yb), then for every parameter
    v = momentum * v + grad ; p = p - lr * v (v starts at 0).
    """
    raise NotImplementedError("train: your code here")


# In a Jupyter notebook: run this file in a cell (%run solver.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("solver", globals()))
