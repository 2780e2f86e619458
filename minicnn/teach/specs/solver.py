"""What ``minicnn check`` runs for exercise solver (the training loop (CS231n's Solver), proved by
overfitting a small set): the cases, the reference (minicnn's own ops, never the solution) and
the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/solver.py``, the solution
(source tree only) ``minicnn/teach/solutions/solver.py``."""

import numpy as np

from minicnn.backend import reference
from minicnn.teach.checker import Case, Exercise, Mistake, Part, arguments, close, outputs, same_as


def _two_layer_loss(params, X, y):
    """The checker's model: affine - ReLU - affine - softmax cross-entropy (mean over N)."""
    X = X.reshape(len(X), -1)
    hidden = X @ params["W1"] + params["b1"]
    relu = np.maximum(hidden, 0)
    scores = relu @ params["W2"] + params["b2"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(len(y)), y].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(len(y)), y] -= 1
    dscores /= len(y)
    drelu = dscores @ params["W2"].T * (hidden > 0)
    return float(loss), {"W1": X.T @ drelu, "b1": drelu.sum(axis=0), "W2": relu.T @ dscores,
                         "b2": dscores.sum(axis=0)}


def _two_layer_predict(params, X):
    return np.maximum(X.reshape(len(X), -1) @ params["W1"] + params["b1"], 0) @ params["W2"] \
        + params["b2"]


def _solver_cases(rng):
    D, H, K = 3 * 8 * 8, 100, 10
    params = {"W1": rng.standard_normal((D, H)) * np.sqrt(2 / D), "b1": np.zeros(H),
              "W2": rng.standard_normal((H, K)) * np.sqrt(1 / H), "b2": np.zeros(K)}
    return [Case("overfit 50 images (3x8x8, 10 classes), two-layer net, 15 epochs", {
        "loss_fn": _two_layer_loss, "predict": _two_layer_predict, "params": params,
        "X": rng.standard_normal((50, 3, 8, 8)), "y": rng.integers(0, K, 50),
        "X_val": rng.standard_normal((20, 3, 8, 8)), "y_val": rng.integers(0, K, 20),
        "num_epochs": 15, "batch_size": 25, "lr": 0.05, "momentum": 0.9, "seed": 7})]


def _solver(values, shuffle=True, fresh_rng=False, copy_best=True):
    """The reference loop: minicnn's SGD step (reference.sgd_step) on the checker's model."""
    params = {name: value.copy() for name, value in values["params"].items()}
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    rng = np.random.default_rng(values["seed"])
    X, y, n = values["X"], values["y"], len(values["X"])
    losses, train_acc, val_acc, best, best_acc = [], [], [], None, -1.0
    for epoch in range(values["num_epochs"]):
        if fresh_rng:
            rng = np.random.default_rng(values["seed"])
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, values["batch_size"]):
            batch = order[start:start + values["batch_size"]]
            loss, grads = _two_layer_loss(params, X[batch], y[batch])
            losses.append(loss)
            for name in params:
                reference.sgd_step(params[name], grads[name], velocity[name], values["lr"],
                                   values["momentum"], 0.0, 0.0, False, False,
                                   first_step=False)
        train_acc.append(float(np.mean(_two_layer_predict(params, X).argmax(1) == y)))
        val_acc.append(float(np.mean(_two_layer_predict(params, values["X_val"]).argmax(1)
                                     == values["y_val"])))
        if val_acc[-1] > best_acc:
            best_acc = val_acc[-1]
            best = params if not copy_best else {k: v.copy() for k, v in params.items()}
    result = {"loss_history": np.array(losses), "train_acc_history": np.array(train_acc),
              "val_acc_history": np.array(val_acc)}
    result.update({f"params[{k}]": v for k, v in params.items()})
    result.update({f"best_params[{k}]": v for k, v in best.items()})
    return result


def _unpack_solver(result):
    if not isinstance(result, tuple) or len(result) != 5 or not all(
            isinstance(d, dict) for d in result[:2]):
        raise TypeError("expected (params, best_params, loss_history, train_acc_history, "
                        "val_acc_history)")
    params, best, losses, train_acc, val_acc = result
    unpacked = {"loss_history": losses, "train_acc_history": train_acc,
                "val_acc_history": val_acc}
    unpacked.update({f"params[{k}]": v for k, v in params.items()})
    unpacked.update({f"best_params[{k}]": v for k, v in best.items()})
    return unpacked


def _overfits(values, got):
    """The course's sanity check: the final parameters classify all 50 images right."""
    from minicnn.teach.checker import Finding
    try:
        params = {k: np.asarray(got[f"params[{k}]"], dtype=np.float64) for k in values["params"]}
        accuracy = float(np.mean(_two_layer_predict(params, values["X"]).argmax(1)
                                 == values["y"]))
    except (KeyError, TypeError, ValueError) as error:
        return [Finding("overfit", False, [f"overfit: cannot use your params: {error}"])]
    return [Finding("overfit", accuracy == 1.0, [
        f"overfit: training accuracy of your final params {accuracy:.0%} "
        + ("(100%: the loop learns)" if accuracy == 1.0 else "(a right loop reaches 100%)")])]


EXERCISE = Exercise("solver", (
    Part("accuracy", lambda v: {"accuracy": np.mean(
        _two_layer_predict(v["params"], v["X"]).argmax(1) == v["y"])},
         arguments("predict", "params", "X", "y"), outputs("accuracy"), (
             Mistake("accuracy", "the accuracy is a fraction in [0, 1] (the mean of the right "
                                 "predictions), not a count",
                     lambda v, e, g: close(g["accuracy"], e["accuracy"] * len(v["y"]))),
         )),
    Part("train", _solver,
         arguments("loss_fn", "predict", "params", "X", "y", "X_val", "y_val", "num_epochs",
                   "batch_size", "lr", "momentum", "seed"), _unpack_solver, (
             same_as("loss_history", "shuffle the training set every epoch: order = "
                                     "rng.permutation(N), minibatches X[order[i:i + "
                                     "batch_size]]", lambda v: _solver(v, shuffle=False)[
                                         "loss_history"]),
             same_as("loss_history", "make the rng ONCE, before the first epoch: a new "
                                     "default_rng(seed) each epoch repeats the same order",
                     lambda v: _solver(v, fresh_rng=True)["loss_history"]),
             *(same_as(f"best_params[{k}]", "keep a COPY of the best parameters: without "
                                            "it they change with every later step",
                       lambda v, k=k: _solver(v, copy_best=False)[f"best_params[{k}]"])
               for k in ("W1", "b1", "W2", "b2")),
         ), verify=_overfits),
), _solver_cases, time_limit=120.0)
