"""The pictures: text forms against known values, and every PNG written, of a plausible size and
with pixel statistics that a blank or broken figure would not have."""

import json

import numpy as np
import pytest

import minicnn as mc
from minicnn import cli
from minicnn.teach import pictures


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """LeNet-5 on 128 images of the embedded Fashion-MNIST, one epoch (a few seconds)."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "--epochs", "1", "--train-subset", "128", "--test-subset", "32",
                     "--schedule", "none", "--no-plots", "--out", str(out)]) == 0
    return str(out / "last.npz")


def _png(path, min_size=(200, 200)):
    """The image as an (H, W, 3) float array in [0, 1], after checking it is a real picture."""
    image = pytest.importorskip("matplotlib.image").imread(str(path))
    height, width = image.shape[:2]
    assert height >= min_size[0] and width >= min_size[1]
    rgb = image[..., :3]
    ink = (rgb < 0.9).any(axis=2).mean()          # pixels that are not (nearly) white
    assert 0.02 < ink < 0.95, ink
    colours = len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert colours > 20
    return rgb


def _run(capsys, *argv):
    status = cli.main(list(argv))
    output = capsys.readouterr()
    assert status == 0, output.err
    return output.out


def test_im2col_text_is_the_column_matrix_of_a_3x3_input(capsys):
    out = _run(capsys, "show", "im2col")
    rows = [line.split()[1:] for line in out.splitlines() if line.strip().startswith("(0,")
            and len(line.split()) == 5]
    assert rows == [["1", "2", "4", "5"], ["2", "3", "5", "6"], ["4", "5", "7", "8"],
                    ["5", "6", "8", "9"]]
    x, cols, oh, ow = pictures.im2col_example(size=3, kernel=2)
    np.testing.assert_array_equal(cols, [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]])


def test_im2col_with_padding_puts_zeros_where_the_window_leaves_the_image():
    x, cols, oh, ow = pictures.im2col_example(size=3, kernel=3, padding=1)
    assert (oh, ow) == (3, 3)
    # the centre tap sees the image itself; the top-left tap of output (0, 0) sees padding
    np.testing.assert_array_equal(cols[4], np.arange(1, 10))
    assert cols[0, 0] == 0 and cols[0, 4] == 1


def test_im2col_png(tmp_path, capsys):
    path = tmp_path / "im2col.png"
    _run(capsys, "show", "im2col", "--stride", "1", "--padding", "1", "--out", str(path))
    rgb = _png(path)
    # the windows' colours tint the column matrix: a good share of saturated pixels
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    assert (saturation > 0.1).mean() > 0.05


def test_receptive_fields_of_resnet20(capsys):
    out = _run(capsys, "show", "receptive-field", "resnet20", "--images", "2")
    table = {line.split()[0]: line.split() for line in out.splitlines()
             if line.startswith("  ") and len(line.split()) >= 5}
    # 3x3 convs add 2 * jump each; the stride-2 convs double the jump; He et al.'s 8x8 average
    # pool at jump 4 adds 7 * 4
    expected = {"conv1": (3, 1), "layer1.2.conv2": (15, 1), "layer2.0.conv1": (17, 2),
                "layer2.2.conv2": (37, 2), "layer3.0.conv1": (41, 4), "layer3.2.conv2": (81, 4),
                "avgpool": (109, 32)}
    for name, (rf, jump) in expected.items():
        assert table[name][-2:] == [str(rf), str(jump)], table[name]
    assert "effective receptive field of the centre unit of layer3.2.conv2" in out
    assert "theoretical RF 81" in out


def test_effective_receptive_field_is_centred_and_inside_the_theoretical_one():
    model = mc.models.create("lenet5", modern=True)
    model.eval()
    images = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    erf = pictures.effective_receptive_field(model, images, "features.0")
    # one 5x5 conv with padding 2: the centre unit (14, 14) sees rows and columns 12..16 only
    nonzero = np.argwhere(erf > 0)
    assert nonzero.min(axis=0).tolist() == [12, 12] and nonzero.max(axis=0).tolist() == [16, 16]


def test_receptive_field_png_on_a_checkpoint(tmp_path, capsys, checkpoint):
    path = tmp_path / "rf.png"
    out = _run(capsys, "show", "receptive-field", checkpoint, "--out", str(path))
    assert "trained weights" in out and "theoretical RF 16" in out
    _png(path)


def test_filters(tmp_path, capsys, checkpoint):
    path = tmp_path / "filters.png"
    out = _run(capsys, "show", "filters", checkpoint, "--out", str(path))
    assert out.startswith("features.0.weight: 6 filters of 1x5x5")
    assert out.count("L2 norm") == 6
    rgb = _png(path, min_size=(100, 200))
    assert rgb.std() > 0.1


def test_activations(tmp_path, capsys, checkpoint):
    path = tmp_path / "activations.png"
    out = _run(capsys, "show", "activations", checkpoint, "--image", "3", "--out", str(path))
    assert "features.0: 6 maps of 28x28" in out and "features.3: 16 maps of 10x10" in out
    _png(path, min_size=(300, 500))


def test_saliency(tmp_path, capsys, checkpoint):
    path = tmp_path / "saliency.png"
    out = _run(capsys, "show", "saliency", checkpoint, "--image", "0", "--out", str(path))
    assert "predicted" in out and "saliency map:" in out
    rgb = _png(path, min_size=(200, 600))
    # the 'hot' colour map: red dominates somewhere
    assert ((rgb[..., 0] - rgb[..., 2]) > 0.5).mean() > 0.01


def test_saliency_is_the_input_gradient_of_the_predicted_score(checkpoint):
    model, _, test_set = pictures.load_model(checkpoint)
    image = np.asarray(test_set[1][0], dtype=np.float32)
    heat, logits = pictures.saliency(model, image)
    c = int(np.argmax(logits))
    x = image.astype(np.float64)
    model.double()
    eps, (row, column) = 1e-4, np.unravel_index(np.argmax(heat), heat.shape)
    plus, minus = x.copy(), x.copy()
    plus[0, row, column] += eps
    minus[0, row, column] -= eps
    with mc.no_grad():
        numeric = (model(mc.tensor(plus[None])).numpy()[0, c]
                   - model(mc.tensor(minus[None])).numpy()[0, c]) / (2 * eps)
    assert abs(abs(numeric) - heat[row, column]) < 1e-3 * max(1.0, heat[row, column])


def test_bad_image_index_is_a_usage_error(capsys, checkpoint):
    assert cli.main(["show", "saliency", checkpoint, "--image", "32"]) == 2
    assert "--image must be a test image index in [0, 32)" in capsys.readouterr().err


def test_zoo(tmp_path, capsys):
    path = tmp_path / "zoo.png"
    out = _run(capsys, "zoo", "--models", "squeezenet1_0,resnet18", "--out", str(path))
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.startswith("  ")}
    assert lines["resnet18"][1] == "72.1%" and lines["squeezenet1_0"][1] == "57.5%"
    # multiply-adds and parameters from minicnn's own summary
    resnet18 = mc.summary(mc.models.create("resnet18"), (3, 224, 224))
    assert lines["resnet18"][2] == f"{resnet18.total_mult_adds / 1e9:.2f}"
    assert lines["resnet18"][4] == f"{resnet18.total_params / 1e6:.1f}"
    _png(path, min_size=(300, 400))


def test_zoo_data_file_cites_a_paper_for_every_model():
    with open(pictures.ZOO_FILE, encoding="utf-8") as file:
        data = json.load(file)
    names = set(mc.models.names())
    for entry in data["models"]:
        assert entry["model"] in names
        assert 50 < entry["top1"] < 90
        assert entry["source"] and entry["note"]
    assert cli.main(["zoo", "--models", "lenet5"]) == 2


def test_without_matplotlib_out_is_a_clear_usage_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(pictures.plotting, "available", lambda: False)
    assert cli.main(["show", "im2col", "--out", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "pip install" in err
    assert not (tmp_path / "a.png").exists()
    assert cli.main(["show", "im2col"]) == 0       # the text form needs nothing


@pytest.mark.parametrize("argv, message", [
    (["show", "im2col", "--kernel", "5"], "larger than the padded input"),
    (["show", "im2col", "--padding", "-1"], "padding must be an integer >= 0"),
    (["show", "receptive-field", "resnet20", "--layer", "input", "--images", "1"],
     "--layer must be a layer of the table above"),
    (["show", "receptive-field", "no_such_model"], "unknown model"),
])
def test_bad_arguments_are_usage_errors(capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_window_colours_are_distinct_past_twenty():
    colours = pictures.window_colours(48)
    assert len({tuple(np.round(c, 3)) for c in colours}) == 48


def test_im2col_past_nine_windows_draws_one_small_input_per_window(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    x, cols, oh, ow = pictures.im2col_example(5, 1, 2, 1, 0, 1)
    args = type("Args", (), {"size": 5, "padding": 0, "kernel": 2, "stride": 1, "dilation": 1})
    figure = pictures._im2col_figure(x, cols, args, oh, ow)
    assert len(figure.axes) == oh * ow + 1          # 16 windows, each its own, and the columns
    path = tmp_path / "im2col.png"
    _run(capsys, "show", "im2col", "--size", "5", "--kernel", "2", "--out", str(path))
    _png(path)


def test_receptive_field_axis_is_linear_and_input_size_widens_the_effective_field(tmp_path,
                                                                                  capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "rf.png"
    out = _run(capsys, "show", "receptive-field", "resnet20", "--input-size", "64", "--images",
               "2", "--out", str(path))
    assert "2 random 64x64 images" in out
    _png(path)
    rows = pictures.receptive_field_rows(mc.summary(mc.models.create("resnet20"), (3, 64, 64)))
    figure = pictures._receptive_field_figure("resnet20", rows, np.ones((64, 64)), "layer3.2.conv2",
                                              (81, 81), 20, "test")
    assert figure.axes[0].get_yscale() == "linear"
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert labels[1] == "conv1" and all(len(label) <= 16 for label in labels)


def test_input_size_with_a_checkpoint_is_a_usage_error(capsys, checkpoint):
    assert cli.main(["show", "receptive-field", checkpoint, "--input-size", "64"]) == 2
    assert "--input-size is for a model name" in capsys.readouterr().err


@pytest.mark.slow
def test_zoo_labels_do_not_overlap_and_alexnet_costs_its_two_gpu_model():
    pytest.importorskip("matplotlib")
    names = ["alexnet", "resnet50", "resnext50_32x4d", "densenet169", "densenet201", "resnet34"]
    table = pictures.zoo_table(names)
    alexnet = next(row for row in table if row[0]["model"] == "alexnet")
    two_gpus = mc.summary(mc.models.create("alexnet", groups=2), mc.models.input_size("alexnet"))
    assert alexnet[1] == two_gpus.total_mult_adds          # the paper's model, 0.72 G
    figure = pictures._zoo_figure(table)
    renderer = figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in figure.axes[0].texts]
    assert len(boxes) == len(names)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == \
        ["1 M parameters", "25 M parameters", "100 M parameters"]
