"""Recipes (issue 23): `minicnn recipes`, `minicnn train --recipe NAME`, the options a recipe
brings (pixel-mean normalisation, warm-up + linear schedule, the batch norms' learning-rate
scale, lookahead, whitening, test-time augmentation) and their bad input. The slow tests train
each recipe a few hundred steps on a CIFAR-10 subset (run by name; skipped without the data)."""

import os

import numpy as np
import pytest

import minicnn as mc
from minicnn import cli, recipes
from minicnn.utils.checkpoint import load_checkpoint

CIFAR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                     "cifar-10-binary.tar.gz")
if not os.path.exists(CIFAR):
    CIFAR = "/work/shared/data/cifar-10-binary.tar.gz"
needs_cifar = pytest.mark.skipif(not os.path.exists(CIFAR), reason="no CIFAR-10 copy")


def run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def config_of(*argv):
    """The configuration `minicnn train ARGV` would run."""
    config, resumed = cli._train_config(cli.build_parser().parse_args(["train", *argv]))
    assert resumed is None
    return config


@pytest.fixture
def no_data_folders(tmp_path, monkeypatch):
    """No CIFAR copy where a recipe looks for one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINICNN_DATA", raising=False)


def test_recipes_lists_each_recipe_with_its_record(capsys):
    status, out, _ = run(capsys, "recipes")
    assert status == 0
    for name in ("lenet5-fashion", "resnet20-he2016", "resnet20-fast", "speedrun94"):
        assert out.count(f"\n{name}: ") + out.startswith(f"{name}: ") == 1
    # no figure without a full run: resnet20-he2016 has none (its 20 epochs are not one)
    assert out.count("measured:  not measured yet") == 1
    assert "measured:  88.90% test accuracy" in out
    assert "measured:  88.26% test top-1" in out
    assert "measured:  90.76% test top-1 (flip + translate TTA), the mean of seeds 0-2" in out


def test_an_unknown_recipe_lists_the_known_ones(capsys):
    status, _, err = run(capsys, "train", "--recipe", "speedrun", "--no-plots")
    assert status == 2
    assert err.strip() == ("minicnn train: error: unknown recipe 'speedrun'; the recipes are "
                           "lenet5-fashion, resnet20-he2016, resnet20-fast, speedrun94 "
                           "(`minicnn recipes` describes them)")


def test_a_cifar_recipe_without_data_says_where_to_get_it(capsys, no_data_folders):
    status, out, err = run(capsys, "train", "--recipe", "speedrun94")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in err
    assert "pass --data PATH/cifar-10-binary.tar.gz" in err
    assert not os.path.exists("runs")


def test_a_recipe_finds_its_data_in_a_data_folder(tmp_path, no_data_folders):
    (tmp_path / "data" / "cifar-10-batches-bin").mkdir(parents=True)
    assert config_of("--recipe", "resnet20-fast")["data_path"] == \
        str(tmp_path / "data" / "cifar-10-batches-bin")


@pytest.mark.parametrize("option, value", [("--lookahead", "x"), ("--bias-lr-scale", "0"),
                                           ("--norm-weight-decay", "-1"),
                                           ("--lr", "fast"), ("--epochs", "1.5"),
                                           ("--tta", "rotate"), ("--eval-every", "0")])
def test_a_recipe_option_of_a_wrong_type_is_named(capsys, option, value):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--recipe", "speedrun94", option, value])
    assert exit_info.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def test_the_lenet5_fashion_recipe_is_the_main_job():
    assert recipes.recipe_config("lenet5-fashion") == {**recipes.TRAIN_DEFAULTS,
                                                      "recipe": "lenet5-fashion"}
    assert config_of("--recipe", "lenet5-fashion") == {**config_of(),
                                                       "recipe": "lenet5-fashion"}


def test_options_given_override_the_recipe_s(tmp_path, no_data_folders):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"")
    config = config_of("--recipe", "speedrun94", "--data", str(archive), "--lr", "0.5",
                       "--no-whiten", "--augment", "crop,flip", "--seed", "3")
    expected = {**recipes.recipe_config("speedrun94"), "data_path": str(archive), "lr": 0.5,
                "whiten": False, "augment": "crop,flip", "seed": 3, "model_options": {}}
    assert config == expected
    with pytest.raises(recipes.UsageError, match="give one"):
        config_of("--recipe", "speedrun94", "--data", str(archive), "--data-path", str(archive))


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_is_a_valid_configuration(name):
    config = recipes.recipe_config(name)
    assert set(config) == set(recipes.TRAIN_DEFAULTS)
    assert [key for key, valid in recipes.SETTING_CHECKS.items() if not valid(config[key])] == []


def test_resnet20_he2016_is_the_paper_s_schedule():
    config = recipes.recipe_config("resnet20-he2016")
    iterations = -(-50_000 // config["batch_size"])         # 391 a epoch
    assert [m * iterations for m in config["milestones"]] == [32_062, 48_093]
    assert config["epochs"] * iterations == 64_124            # 64k
    assert (config["lr"], config["momentum"], config["weight_decay"]) == (0.1, 0.9, 1e-4)


def test_warmup_linear_and_the_batch_norm_shift_scale():
    model = mc.models.create("airbench94")
    config = {**recipes.recipe_config("speedrun94"), "epochs": 2}
    optimizer, scheduler, interval = recipes.build_optimizer(config, model, steps_per_epoch=50)
    assert interval == "step"
    main, shifts = optimizer.param_groups
    assert len(shifts["params"]) == 6 and all(p.requires_grad for p in shifts["params"])
    assert not any(p is model.whiten.weight for p in main["params"])      # frozen
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.2 * 1.5)
    assert max(rates) == pytest.approx(1.5) and 20 <= int(np.argmax(rates)) <= 23
    assert rates[-1] == pytest.approx(0.07 * 1.5, rel=0.05)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(64 * optimizer.param_groups[0]["lr"])
    assert shifts["weight_decay"] == pytest.approx(main["weight_decay"] / 64)


def test_norm_weight_decay_gives_the_normalisation_layers_their_own_group():
    model = mc.models.create("resnet20")
    norm = [p for m in model.modules() if isinstance(m, mc.nn.BatchNorm2d)
            for p in (m.weight, m.bias)]
    config = {**recipes.recipe_config("resnet20-fast"), "norm_weight_decay": None}
    optimizer, _, _ = recipes.build_optimizer(config, model, steps_per_epoch=10)
    assert len(optimizer.param_groups) == 1                  # None: --weight-decay's
    config["norm_weight_decay"] = 0.0                        # the recipe's
    optimizer, scheduler, _ = recipes.build_optimizer(config, model, steps_per_epoch=10)
    rest, norm_group = optimizer.param_groups
    assert len(norm) == 38 and [id(p) for p in norm_group["params"]] == [id(p) for p in norm]
    assert (rest["weight_decay"], norm_group["weight_decay"]) == (5e-4, 0.0)
    assert len(rest["params"]) + len(norm) == len(list(model.parameters()))
    scheduler.step()
    assert norm_group["lr"] == rest["lr"]
    airbench = mc.models.create("airbench94")
    config = {**recipes.recipe_config("speedrun94"), "norm_weight_decay": 1e-3}
    optimizer, _, _ = recipes.build_optimizer(config, airbench, steps_per_epoch=10)
    rest, shifts = optimizer.param_groups            # airbench's BN weights are frozen at 1
    assert len(shifts["params"]) == 6 and shifts["weight_decay"] == pytest.approx(1e-3 / 64)
    assert rest["weight_decay"] == pytest.approx(0.0153 / 11.5)
    assert shifts["lr"] == pytest.approx(64 * rest["lr"])


def test_pixel_mean_normalisation_centres_every_pixel():
    config = {**recipes.TRAIN_DEFAULTS, "normalize": "pixel-mean", "augment": "none"}
    train_set, test_set = recipes.build_datasets(config)
    images, _ = train_set.get_batch(np.arange(len(train_set)))
    assert np.abs(images.mean(axis=0)).max() < 1e-5
    assert abs(images.mean()) < 1e-5 and images.std() > 0.2      # not divided by the std
    image, _ = test_set[0]
    raw = test_set.images[0].astype(np.float64) / 255
    np.testing.assert_allclose(image, raw - train_set.images.mean(axis=0) / 255, atol=1e-6)


def test_whitening_refuses_a_first_conv_that_cannot_whiten(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--whiten", "--epochs", "1", "--train-subset", "64",
                         "--test-subset", "32", "--out", str(tmp_path / "run"), "--no-plots")
    assert status == 2 and "--whiten: whitening_: a weight of 1x5x5 patches has 25 or 50" in err


def test_a_run_with_lookahead_and_tta_resumes_exactly(tmp_path):
    config = {**recipes.TRAIN_DEFAULTS, "lookahead": 3, "tta": "flip-translate",
              "augment": "alternating-flip", "train_subset": 256, "test_subset": 64,
              "batch_size": 32, "epochs": 2}
    whole = recipes.build_run(config, out_dir=tmp_path / "a", plots=False)
    whole.stream = whole.out = open(os.devnull, "w")
    whole.fit(2)
    assert whole.lookahead.steps == 16 and whole.history[-1]["test_top1"] > 0
    assert whole.history[-1]["tta"] == "flip-translate" and "tta" not in whole.history[0]
    stopped = recipes.build_run(config, out_dir=tmp_path / "b", plots=False)
    stopped.stream = stopped.out = whole.stream
    loss_fn, calls = stopped.loss_fn, []

    def stop_at_batch_12(logits, labels):        # epoch 2, batch 4: between lookahead steps
        calls.append(1)
        if len(calls) == 12:
            stopped.request_stop()
        return loss_fn(logits, labels)
    stopped.loss_fn = stop_at_batch_12
    with pytest.raises(mc.train.TrainingInterrupted):
        stopped.fit(2)
    resumed = recipes.build_run(config, out_dir=tmp_path / "b", plots=False)
    resumed.stream = resumed.out = whole.stream
    resumed.load_state_dict(load_checkpoint(str(tmp_path / "b" / "last.npz")))
    assert resumed.lookahead.steps == 12
    resumed.fit(2)
    for key, value in whole.network.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), resumed.network.state_dict()[key].numpy())
    assert whole.history[-1]["test_top1"] == resumed.history[-1]["test_top1"]


def test_a_resumed_run_with_lookahead_keeps_its_epochs(capsys, tmp_path):
    common = ["--lookahead", "2", "--schedule", "step", "--train-subset", "64",
              "--test-subset", "32", "--no-plots", "--out", str(tmp_path)]
    assert cli.main(["train", "--epochs", "1", *common]) == 0
    status, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", str(tmp_path))
    assert status == 2 and "the lookahead of this run was laid out for 1 epoch" in err



def test_eval_takes_the_flip_translate_views(capsys, tmp_path):
    assert cli.main(["train", "--epochs", "1", "--augment", "alternating-flip",
                     "--train-subset", "128", "--test-subset", "64", "--no-plots",
                     "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    status, out, err = run(capsys, "eval", str(tmp_path / "last.npz"), "--tta", "flip-translate")
    assert status == 0 and err == ""
    assert out.startswith("64 test images, with flip-translate test-time augmentation")


def test_a_data_path_without_a_recipe_asks_for_the_dataset(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--data", str(tmp_path))
    assert status == 2
    assert err.strip() == (f"minicnn train: error: --data {tmp_path}: a path gives the data of a "
                           f"--recipe; without one, name the dataset: --data cifar10 --data-path "
                           f"{tmp_path} (or fashion-mnist, mnist, cifar100)")

# ----- slow: each recipe trains a few hundred steps on a subset (run by name) -------------------
def train_recipe(tmp_path, capsys, name, *options):
    """Train recipe ``name`` with ``options``; (the log's epochs, the final test accuracy)."""
    data = [] if name == "lenet5-fashion" else ["--data", CIFAR]
    status = cli.main(["train", "--recipe", name, *data, "--out", str(tmp_path / "run"),
                       "--no-plots", *options])
    out = capsys.readouterr().out
    assert status == 0, out
    state = load_checkpoint(str(tmp_path / "run" / "last.npz"))
    return state["history"], float(out.splitlines()[-1].removeprefix("test accuracy: ")
                                   .rstrip("%"))


@pytest.mark.slow
def test_lenet5_fashion_learns(tmp_path, capsys):
    history, accuracy = train_recipe(tmp_path, capsys, "lenet5-fashion", "--epochs", "3",
                                     "--train-subset", "6400")           # 300 steps
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert accuracy >= 75.0                                                # chance: 10%


@pytest.mark.slow
@needs_cifar
def test_resnet20_he2016_learns(tmp_path, capsys):
    history, accuracy = train_recipe(tmp_path, capsys, "resnet20-he2016", "--epochs", "6",
                                     "--train-subset", "4096", "--test-subset", "1000")  # 192 steps
    assert history[-1]["train_loss"] < 0.85 * history[0]["train_loss"]
    assert accuracy >= 30.0


@pytest.mark.slow
@needs_cifar
def test_resnet20_fast_learns(tmp_path, capsys):
    history, accuracy = train_recipe(tmp_path, capsys, "resnet20-fast", "--epochs", "6",
                                     "--batch-size", "128", "--lr", "0.2",
                                     "--train-subset", "4096", "--test-subset", "1000")  # 192 steps
    assert history[-1]["train_loss"] < 0.85 * history[0]["train_loss"]
    assert accuracy >= 30.0


@pytest.mark.slow
@needs_cifar
def test_speedrun94_learns(tmp_path, capsys):
    # airbench's rate is per example: at batch 128, 128/1024 of the recipe's 1.5
    history, accuracy = train_recipe(tmp_path, capsys, "speedrun94", "--epochs", "6",
                                     "--batch-size", "128", "--lr", "0.1875",
                                     "--train-subset", "4096", "--test-subset", "1000")  # 192 steps
    assert history[-1]["train_loss"] < 0.85 * history[0]["train_loss"]
    assert accuracy >= 35.0
