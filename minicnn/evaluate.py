"""Evaluation: top-1 / top-5 error, test-time augmentation and ensembles.

    probs, labels = predict_proba(model, test_loader, tta="flip")
    topk_error(probs, labels, k=5)                       # fraction of images, in [0, 1]
    ensemble_errors([probs_a, probs_b], labels)          # each model's errors, then the average's

The top-k error is the fraction of images whose true class is not among the k highest scores,
as in the ILSVRC tables. Test-time augmentation with ``tta="flip"`` averages the softmax of an
image and of its horizontal mirror; ``tta="flip-translate"`` (airbench's, Jordan 2024) weighs
that pair 1/2 and the same pair of the image moved one pixel up-left and one pixel down-right
(reflect padding) 1/4 each, six views in all. An ensemble averages the softmax outputs of several models
(the AlexNet lecture's 7-CNN ensemble), which usually lowers the error below every member's.
"""

import numpy as np

from minicnn.autograd import Tensor, no_grad
from minicnn.backend import get_array_module
from minicnn.nn.functional import cross_entropy

__all__ = ["TTA_MODES", "as_batch", "softmax", "tta_views", "predict_proba", "topk_error", "topk_correct",
           "confusion_matrix", "evaluate", "ensemble_errors"]

TTA_MODES = (None, "flip", "flip-translate")


def tta_views(images, tta):
    """[(weight, views (N, C, H, W))] of test-time augmentation ``tta`` (see TTA_MODES) for
    the array ``images`` (N, C, H, W); the weights sum to 1."""
    if tta is None:
        return [(1.0, images)]
    mirrors = [images, images[..., ::-1]]
    if tta == "flip":
        return [(0.5, view) for view in mirrors]
    padded = get_array_module(images).pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    height, width = images.shape[2:]
    moved = [padded[:, :, :height, :width], padded[:, :, 2:, 2:]]
    return [(0.25, view) for view in mirrors] + [
        (0.125, view) for image in moved for view in (image, image[..., ::-1])]


def _tta_proba(model, inputs, tta):
    """The ``tta``-weighted average of the model's softmax over the views of ``inputs``."""
    if tta is None:
        return softmax(_logits(model, inputs))
    xp = get_array_module(inputs.array)
    return sum(weight * softmax(_logits(model, Tensor(xp.ascontiguousarray(view))))
               for weight, view in tta_views(inputs.array, tta))


def as_batch(images, labels, device="cpu"):
    """A loader's batch as (input Tensor on ``device``, integer label array on the host)."""
    inputs = images if isinstance(images, Tensor) else Tensor(np.asarray(images))
    if device != "cpu":
        inputs = inputs.to(device)
    labels = labels.numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    return inputs, labels.astype(np.int64, copy=False)


def softmax(logits):
    """Row-wise softmax of a (N, K) array in float64, shifted by the row maximum for stability."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _logits(model, inputs):
    return model(inputs).numpy()


def predict_proba(model, loader, tta=None, device="cpu"):
    """Class probabilities (N, K) float64 and labels (N,) for every image of ``loader``, in the
    loader's order, with the model in eval mode. ``tta``: None, "flip" (each image's softmax
    averaged with its horizontal mirror's, the last axis of NCHW being the width) or
    "flip-translate" (see ``tta_views``)."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    was_training = model.training
    model.eval()
    probabilities, all_labels = [], []
    try:
        with no_grad():
            for images, labels in loader:
                inputs, labels = as_batch(images, labels, device)
                probabilities.append(_tta_proba(model, inputs, tta))
                all_labels.append(labels)
    finally:
        model.train(was_training)
    if not probabilities:
        raise ValueError("predict_proba: the loader gave no batches")
    return np.concatenate(probabilities), np.concatenate(all_labels)


def topk_correct(scores, labels, k):
    """Boolean (N,): is the true label among the k highest scores of its row? With fewer than
    k classes every row counts as correct."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"topk: scores must be (N, K) and labels (N,), got {scores.shape} "
                         f"and {labels.shape}")
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return (top == labels[:, None]).any(axis=1)


def topk_error(scores, labels, k=1):
    """The fraction of rows whose true label is not among the k highest scores."""
    if len(labels) == 0:
        raise ValueError("topk_error: no examples")
    return 1.0 - float(topk_correct(scores, labels, k).mean())


def confusion_matrix(predictions, labels, num_classes):
    """(K, K) int64 counts: row = true class, column = predicted class."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    return counts


def evaluate(model, loader, device="cpu", tta=None):
    """Mean cross-entropy, top-1 and top-5 accuracy and the confusion matrix over ``loader``,
    with the model in eval mode: {"loss", "top1", "top5", "confusion", "images"}. With a
    test-time augmentation ``tta`` (see ``predict_proba``) the scores are the averaged
    probabilities and the loss is -log of the true class's."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    was_training = model.training
    model.eval()
    total_loss, correct1, correct5, images = 0.0, 0, 0, 0
    confusion = None
    try:
        with no_grad():
            for batch_images, batch_labels in loader:
                inputs, labels = as_batch(batch_images, batch_labels, device)
                if tta is None:
                    logits = model(inputs)
                    total_loss += cross_entropy(logits, labels, reduction="sum").item()
                    scores = logits.numpy()
                else:
                    scores = _tta_proba(model, inputs, tta)
                    true = scores[np.arange(len(labels)), labels]
                    total_loss += float(-np.log(np.maximum(true, np.finfo(np.float64).tiny)).sum())
                correct1 += int(topk_correct(scores, labels, 1).sum())
                correct5 += int(topk_correct(scores, labels, 5).sum())
                images += len(labels)
                if confusion is None:
                    confusion = np.zeros((scores.shape[1],) * 2, dtype=np.int64)
                confusion += confusion_matrix(scores.argmax(axis=1), labels, scores.shape[1])
    finally:
        model.train(was_training)
    if images == 0:
        raise ValueError("evaluate: the loader gave no batches")
    return {"loss": total_loss / images, "top1": correct1 / images, "top5": correct5 / images,
            "confusion": confusion, "images": images}


def ensemble_errors(probabilities, labels, ks=(1, 5)):
    """Top-k errors of each model's probabilities and of their average (the ensemble):
    {"models": [{"top1": e, "top5": e}, ...], "ensemble": {"top1": e, "top5": e}}."""
    if not probabilities:
        raise ValueError("ensemble_errors: no models")
    shapes = {np.shape(p) for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"ensemble_errors: models disagree on the output shape: {sorted(shapes)}")

    def errors(probs):
        return {f"top{k}": topk_error(probs, labels, k) for k in ks}

    return {"models": [errors(p) for p in probabilities],
            "ensemble": errors(np.mean(probabilities, axis=0))}
