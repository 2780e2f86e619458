"""The lecture examples: the bottleneck's multiply-adds, the hand-set filters, and the
degradation experiment's commands (its training run is slow and needs CIFAR-10)."""

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHARED_CIFAR10 = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar-10-binary.tar.gz"


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bottleneck_cost_is_the_lectures_120m_and_12_4m(capsys):
    example = _example("bottleneck_cost")
    direct, (reduce, conv) = example.costs()
    assert direct.output_shape == conv.output_shape == (32, 28, 28)
    assert direct.mult_adds == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    assert reduce.mult_adds + conv.mult_adds == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16 \
        == 12_443_648
    example.main()
    out = capsys.readouterr().out
    assert "120,422,400" in out and "12,443,648" in out and "minicnn summary googlenet" in out


def test_hand_set_filters_blur_and_find_edges():
    example = _example("hand_filters")
    flat = example.apply_filters(np.full((8, 8), 0.5))
    inside = (slice(1, -1), slice(1, -1))      # away from the zero padding
    np.testing.assert_allclose(flat[0][inside], 0.5, rtol=1e-6)       # blur keeps a flat image
    np.testing.assert_allclose(flat[1:, 1:-1, 1:-1], 0, atol=1e-6)     # no edges in it
    step = np.zeros((8, 8))
    step[:, 4:] = 1                                                     # a vertical edge
    responses = example.apply_filters(step)
    sobel_x, sobel_y = responses[1][inside], responses[2][inside]
    assert sobel_x.max() == pytest.approx(4) and np.abs(sobel_y).max() == pytest.approx(0)
    assert set(np.nonzero(sobel_x)[1] + 1) == {3, 4}                    # on the edge only


def test_hand_filters_png(tmp_path, monkeypatch, capsys):
    image = pytest.importorskip("matplotlib.image")
    path = tmp_path / "hand.png"
    monkeypatch.setattr(sys, "argv", ["hand_filters.py", "--out", str(path)])
    _example("hand_filters").main()
    assert "Sobel x" in capsys.readouterr().out
    pixels = image.imread(str(path))
    assert pixels.shape[1] > 3 * pixels.shape[0] and pixels[..., :3].std() > 0.1


def test_degradation_commands_are_valid_train_commands():
    example = _example("degradation")
    parser = cli.build_parser()
    for model in example.MODELS:
        args = parser.parse_args(example.command(model, "data.tar.gz", 182, "runs/x", 2000, 500))
        assert (args.model, args.epochs, args.lr, args.weight_decay, args.batch_size) == \
            (model, 182, 0.1, 1e-4, 128)
        assert args.schedule == "multistep" and args.augment == "crop,flip" and not args.nesterov


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_CIFAR10.exists(), reason="needs the shared CIFAR-10 archive")
def test_degradation_runs_on_a_tiny_subset(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["degradation.py", "--data", str(SHARED_CIFAR10),
                                      "--iterations", "10", "--batch-size", "8", "--subset",
                                      "40", "--warmup", "3", "--models", "plain20,resnet20",
                                      "--out", str(tmp_path / "degradation.png")])
    _example("degradation").main()
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = lines.index("iteration   plain20  resnet20")
    rows = [line.split() for line in lines[header + 1:header + 11]]
    assert [int(row[0]) for row in rows] == list(range(1, 11))
    assert all(0 <= float(value) <= 100 for row in rows for value in row[1:])
    assert "plain20: warm-up ends at iteration 3" in out
    assert out.count("minicnn train --model") == 2
    assert os.path.exists(tmp_path / "degradation.png")


@pytest.mark.parametrize("paper_init", [False, True])
def test_degradation_zero_initialises_only_the_resnets_and_scores_each_minibatch(
        monkeypatch, paper_init):
    example = _example("degradation")
    built, create = {}, mc.models.create

    def recording_create(name, **options):
        built[name] = create(name, **options)
        return built[name]
    monkeypatch.setattr(mc.models, "create", recording_create)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, 8)
    args = argparse.Namespace(iterations=10, batch_size=4, warmup=2, seed=0,
                              no_zero_init_residual=paper_init)
    for name in ("resnet20", "plain20"):
        history = example.train(name, images, labels, args)
        assert [i for i, _ in history] == list(range(1, 11))
        assert all(error in (0, 25, 50, 75, 100) for _, error in history)   # 4 images a row
    assert np.all(np.abs(built["plain20"].layer1[0].bn2.weight.numpy() - 1) < 0.5)
    start = 1 if paper_init else 0      # the last BN weight of a block, moved by 10 small steps
    assert np.all(np.abs(built["resnet20"].layer1[0].bn2.weight.numpy() - start) < 0.5)


def test_degradation_schedule_warms_up_then_divides_by_ten():
    example = _example("degradation")
    assert [example.learning_rate(i, 1000, warmup=10) for i in (1, 6, 10)] == \
        pytest.approx([0.01, 0.055, 0.091])
    assert [example.learning_rate(i, 1000, warmup=10) for i in (11, 499, 500, 749, 750)] == \
        pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
