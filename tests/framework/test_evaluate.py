"""Evaluation: top-k error, flip test-time augmentation, ensembles, the confusion matrix."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.evaluate import (confusion_matrix, ensemble_errors, evaluate, predict_proba,
                              softmax, topk_error)


def test_topk_error_by_hand():
    scores = np.array([[0.1, 0.5, 0.2, 0.15, 0.05],    # label 1 ranks first
                       [0.3, 0.1, 0.2, 0.25, 0.15],    # label 1 ranks fifth
                       [0.2, 0.2001, 0.3, 0.1, 0.1999]])   # label 4 ranks fourth
    labels = np.array([1, 1, 4])
    assert topk_error(scores, labels, 1) == pytest.approx(2 / 3)
    assert topk_error(scores, labels, 3) == pytest.approx(2 / 3)
    assert topk_error(scores, labels, 4) == pytest.approx(1 / 3)
    assert topk_error(scores, labels, 5) == 0.0
    assert topk_error(scores, labels, 9) == 0.0                       # k > classes
    with pytest.raises(ValueError, match="scores must be"):
        topk_error(scores, labels[:2], 1)


def test_softmax_is_stable_and_normalised():
    probs = softmax(np.array([[1000.0, 1000.0], [-1000.0, 0.0]]))
    np.testing.assert_allclose(probs, [[0.5, 0.5], [0.0, 1.0]])


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    counts = confusion_matrix(predictions=[0, 2, 2, 1], labels=[0, 2, 1, 1], num_classes=3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


class Batches:
    """A loader over fixed arrays."""

    def __init__(self, images, labels, batch_size):
        self.images, self.labels, self.batch_size = images, labels, batch_size

    def __iter__(self):
        for start in range(0, len(self.labels), self.batch_size):
            yield (self.images[start:start + self.batch_size],
                   self.labels[start:start + self.batch_size])


def left_pixel_model():
    """Logits = (left pixel, right pixel) of a 1x1x2 image: a model a flip swaps."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    model[1].weight.data = mc.tensor(np.eye(2, dtype=np.float32))
    return model


def test_flip_tta_averages_the_softmax_of_the_image_and_its_mirror():
    images = np.array([[[[3.0, 1.0]]], [[[0.0, 2.0]]]], dtype=np.float32)
    labels = np.array([0, 1])
    loader = Batches(images, labels, batch_size=1)
    model = left_pixel_model()
    plain, seen = predict_proba(model, loader)
    np.testing.assert_array_equal(seen, labels)
    np.testing.assert_allclose(plain, softmax(images.reshape(2, 2)), rtol=1e-6)
    flipped, _ = predict_proba(model, loader, tta="flip")
    mirrored = softmax(images.reshape(2, 2)[:, ::-1])
    np.testing.assert_allclose(flipped, (plain + mirrored) / 2, rtol=1e-6)
    np.testing.assert_allclose(flipped, 0.5)               # this model sees no class after TTA
    with pytest.raises(ValueError, match="tta"):
        predict_proba(model, loader, tta="crop")


def test_ensemble_averages_probabilities_and_reports_each_model():
    labels = np.array([0, 1, 2])
    a = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0]])   # wrong on image 1
    b = np.array([[0.4, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])   # wrong on image 0
    result = ensemble_errors([a, b], labels, ks=(1, 2))
    assert result["models"][0]["top1"] == pytest.approx(1 / 3)
    assert result["models"][1]["top1"] == pytest.approx(1 / 3)
    assert result["models"][0]["top2"] == 0.0
    assert result["ensemble"]["top1"] == 0.0               # the average gets all three right
    with pytest.raises(ValueError, match="disagree"):
        ensemble_errors([a, b[:2]], labels)


def test_evaluate_reports_loss_accuracy_and_confusion_and_restores_training_mode():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((10, 1, 1, 2)).astype(np.float32)
    labels = rng.integers(0, 2, size=10)
    model = left_pixel_model()
    model.train()
    result = evaluate(model, Batches(images, labels, batch_size=4))
    logits = images.reshape(10, 2).astype(np.float64)
    expected_loss = np.mean(-np.log(softmax(logits)[np.arange(10), labels]))
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert result["top1"] == pytest.approx(np.mean(logits.argmax(1) == labels))
    assert result["top5"] == 1.0 and result["images"] == 10
    np.testing.assert_array_equal(result["confusion"],
                                  confusion_matrix(logits.argmax(1), labels, 2))
    assert model.training
