"""The exercises: every solution passes its checker (so the solutions stay equal to minicnn's
reference), every skeleton imports and reports 'not implemented', and deliberately wrong
solutions fail with the hint that names their mistake."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minicnn import cli
from minicnn.teach import NAMES, check, check_file, skeleton_source, solution_source
from minicnn.teach import exercises

# (exercise, [(text in the solution, its replacement)], words of the expected hint)
WRONG = [
    ("im2col", [("np.zeros((C, kh, kw, N, oh, ow)", "np.zeros((kh, kw, C, N, oh, ow)"),
                ("cols[:, i, j] =", "cols[i, j] =")], "rows in the wrong order"),
    ("im2col", [("np.zeros((C, kh, kw, N, oh, ow)", "np.zeros((C, kh, kw, oh, ow, N)"),
                (".transpose(1, 0, 2, 3)", ".transpose(1, 2, 3, 0)")], "columns in the wrong order"),
    ("im2col", [("return cols.reshape(C * kh * kw, N * oh * ow)",
                 "return cols.reshape(C * kh * kw, N * oh * ow).T")], "your cols is the transpose"),
    ("im2col", [("            rows = slice(i * dilation, i * dilation + stride * (oh - 1) + 1, stride)",
                 "            rows = slice(i * dilation, i * dilation + (oh - 1) + 1)"),
                ("            columns = slice(j * dilation, j * dilation + stride * (ow - 1) + 1, "
                 "stride)", "            columns = slice(j * dilation, j * dilation + (ow - 1) + 1)")],
     "not by the stride"),
    ("conv_forward_naive", [("y = np.zeros((N, F, oh, ow), dtype=x.dtype)",
                             "y = np.zeros((N, F, oh, ow), dtype=int)")], "integer dtype"),
    ("conv_forward_naive", [("xp[n, :, r * stride:r * stride + kh, q * stride:q * stride + kw]",
                             "xp[n, :, r:r + kh, q:q + kw]")], "not by the stride"),
    ("max_pool", [("            window = x[:, :, r * stride:r * stride + pool_height,\n"
                   "                       q * stride:q * stride + pool_width]",
                   "            window = x[:, :, r:r + pool_height, q:q + pool_width]")],
     "not by the stride"),
    ("max_pool", [("                    dx[n, c, r * stride + i, q * stride + j] += dout[n, c, r, q]",
                   "                    dx[n, c, r * stride:r * stride + pool_height, "
                   "q * stride:q * stride + pool_width] = (window == window.max()) * dout[n, c, r, q]")],
     "dx[window] = mask * dout"),
    ("max_pool", [("                    dx[n, c, r * stride + i, q * stride + j] += dout[n, c, r, q]",
                   "                    dx[n, c, r * stride:r * stride + pool_height, "
                   "q * stride:q * stride + pool_width] += dout[n, c, r, q] / window.size")],
     "average pooling's backward"),
    ("batch_norm", [("xhat = (x - mean[:, None, None]) / np.sqrt(var + eps)[:, None, None]",
                     "xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)")],
     "statistics over axis 0 only"),
    ("batch_norm", [("    dbeta = dout.sum(axis=(0, 2, 3))\n    dgamma = (dout * xhat).sum(axis=(0, 2, 3))\n",
                     "    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)\n"
                     "    dbeta = dout.sum(axis=(0, 2, 3))\n    dgamma = (dout * xhat).sum(axis=0)\n")],
     "statistics over axis 0 only"),
    ("batch_norm", [("\n    new_running_mean = (1 - momentum) * running_mean + momentum * mean",
                     "\n    new_running_mean = momentum * running_mean + (1 - momentum) * mean")],
     "CS231n's convention"),
    ("softmax_cross_entropy", [("log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
                                "log_p = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, "
                                "keepdims=True))")], "-log(p) is inf"),
    ("gradient_check", [("        x[index] = old - h\n        minus = f(x)\n",
                         "        x[index] = old\n        minus = f(x)\n"),
                        ("grad[index] = (plus - minus) / (2 * h)",
                         "grad[index] = (plus - minus) / h")], "one-sided difference"),
    ("gradient_check", [("grad[index] = (plus - minus) / (2 * h)",
                         "grad[index] = (plus - minus) / h")], "divides by 2h"),
    ("gradient_check", [("        x[index] = old\n        grad[index] = (plus - minus) / (2 * h)",
                         "        grad[index] = (plus - minus) / (2 * h)")],
     "your function changed its input x"),
    ("gradient_check", [("grad[index] = np.sum((plus - minus) * df) / (2 * h)",
                         "grad[index] = np.sum(plus - minus) / (2 * h)")], "weight the change"),
    ("affine_relu", [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")],
     "reshape dout @ w.T back"),
    ("affine_relu", [("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")], "not a mean"),
    ("affine_relu", [("return dout * (x > 0)", "return dout * (dout > 0)")], "from its INPUT x"),
    ("affine_relu", [("return dout * (x > 0)", "return (x > 0) * 1.0")], "multiply the mask"),
    ("fc_net", [("+ reg * params[f\"W{l}\"]", "")], "adds reg * W to each dW"),
    ("fc_net", [("+ reg * params[f\"W{l}\"]", "+ 2 * reg * params[f\"W{l}\"]"),
                ("+ reg * params[f\"W{L}\"]", "+ 2 * reg * params[f\"W{L}\"]")],
     "the 0.5 cancels the 2"),
    ("adam_rmsprop", [("m_hat = new_m / (1 - beta1 ** t)", "m_hat = new_m"),
                      ("v_hat = new_v / (1 - beta2 ** t)", "v_hat = new_v")],
     "forgot the bias correction"),
    ("adam_rmsprop", [("return w - lr * m_hat / (np.sqrt(v_hat) + eps), new_m, new_v",
                       "return w - lr * m_hat / np.sqrt(v_hat + eps), new_m, new_v")],
     "eps goes outside the square root"),
    ("adam_rmsprop", [("new_cache = decay_rate * cache + (1 - decay_rate) * dw * dw",
                       "new_cache = decay_rate * cache + (1 - decay_rate) * dw")],
     "averages the SQUARED gradients"),
    ("batch_norm_1d", [("    dxc += 2 * xc * dvar / N ", "    dxc += 0 * xc * dvar / N ")],
     "missing the variance's path"),
    ("batch_norm_1d", [("dx = gamma * invstd * (dout - dout.mean(axis=0) - xhat * "
                        "(dout * xhat).mean(axis=0))",
                        "dx = gamma * invstd * (dout - xhat * (dout * xhat).mean(axis=0))")],
     "missing the mean's path"),
    ("batch_norm_1d", [("\n    new_running_mean = (1 - momentum) * running_mean + momentum * mean",
                        "\n    new_running_mean = momentum * running_mean + (1 - momentum) * mean")],
     "CS231n's convention"),
    ("layer_norm", [("    mean = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)",
                     "    mean = x.mean(axis=0, keepdims=True)\n    var = x.var(axis=0, keepdims=True)")],
     "layer norm normalises each SAMPLE"),
    ("layer_norm", [("    dgamma = (dout * xhat).sum(axis=0)", "    dgamma = (dout * xhat).sum(axis=1)")],
     "dgamma sums over the batch"),
    ("layer_norm", [("    dx = invstd * (dxhat - dxhat.mean(axis=1, keepdims=True)\n"
                     "                   - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))",
                     "    dx = invstd * (dxhat - dxhat.mean(axis=0)\n"
                     "                   - xhat * (dxhat * xhat).mean(axis=0))")],
     "means of dxhat and dxhat * xhat over axis 1"),
    ("group_norm", [("    groups = x.reshape(N, G, -1)\n    xhat = (groups",
                     "    groups = x.reshape(N, C // G, G, H * W).transpose(0, 2, 1, 3).reshape(N, G, -1)\n"
                     "    xhat = (groups"),
                    ("    return gamma[:, None, None] * xhat.reshape(x.shape)",
                     "    return gamma[:, None, None] * xhat.reshape(N, G, C // G, H, W)"
                     ".transpose(0, 2, 1, 3, 4).reshape(x.shape)")], "CONSECUTIVE channels"),
    ("group_norm", [("    dgamma = (dout * xhat.reshape(x.shape)).sum(axis=(0, 2, 3))",
                     "    dgamma = (dout * x).sum(axis=(0, 2, 3))")], "the NORMALISED input"),
    ("solver", [("order = rng.permutation(len(X))", "order = np.arange(len(X))")],
     "shuffle the training set every epoch"),
    ("solver", [("    rng = np.random.default_rng(seed)\n", ""),
                ("        order = rng.permutation(len(X))",
                 "        rng = np.random.default_rng(seed)\n        order = rng.permutation(len(X))")],
     "make the rng ONCE"),
    ("solver", [("            best_params = {name: value.copy() for name, value in params.items()}",
                 "            best_params = params")], "keep a COPY of the best parameters"),
    ("three_layer_convnet", [("+ reg * W1", "")], "adds reg * W to each dW"),
    ("three_layer_convnet", [("dhidden = dscores @ W3.T * (hidden > 0)",
                              "dhidden = dscores @ W3.T")], "the error is below it"),
    ("col2im", [("xp[:, :, rows, columns] +=", "xp[:, :, rows, columns] =")],
     "overwrote instead of accumulated"),
    ("col2im", [("return xp[:, :, padding:padding + H, padding:padding + W]", "return xp")],
     "returned the padded image"),
    ("conv_forward_naive", [("np.sum(window * w[f])", "np.sum(window * w[f][:, ::-1, ::-1])")],
     "transposed or flipped kernel"),
    ("conv_forward_naive", [("np.sum(window * w[f])", "np.sum(window * w[f].transpose(0, 2, 1))")],
     "transposed or flipped kernel"),
    ("conv_forward_naive", [("oh = (H + 2 * padding - kh) // stride + 1",
                             "oh = (H + 2 * padding - kh) // stride")], "off-by-one output size"),
    ("conv_forward_naive", [(" + b[f]", "")], "forgot the bias"),
    ("conv_backward", [("db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))")],
     "forgot to sum over the batch"),
    ("conv_backward", [("dout[n, f, r, q] * w[f]", "dout[n, f, r, q] * w[f, :, ::-1, ::-1]")],
     "transposed or flipped kernel"),
    ("conv_backward", [("return dx, dw, db", "return dx, dw / N, db / N")],
     "divided by the batch size"),
    ("conv_im2col", [("return Y.reshape(F, N, oh, ow).transpose(1, 0, 2, 3)",
                      "return Y.reshape(N, F, oh, ow)")], "come in (n, r, q) order"),
    ("conv_im2col", [("db = dY.sum(axis=1)", "db = dout[0].sum(axis=(1, 2))")],
     "forgot to sum over the batch"),
    ("conv_im2col", [("dcols = w.reshape(", "dcols = w[:, :, ::-1, ::-1].reshape(")],
     "transposed or flipped kernel"),
    ("max_pool", [("dx[n, c, r * stride + i, q * stride + j] +=",
                   "dx[n, c, r * stride + i, q * stride + j] =")],
     "overwrote instead of accumulated"),
    ("max_pool", [("dx[n, c, r * stride + i, q * stride + j] +=",
                   "dx[n, c, r * stride:r * stride + pool_height, "
                   "q * stride:q * stride + pool_width] +=")], "only to the element that won"),
    ("avg_pool", [("q * stride:q * stride + pool_width] += share",
                   "q * stride:q * stride + pool_width] = share")],
     "overwrote instead of accumulated"),
    ("avg_pool", [("share = dout / (pool_height * pool_width)", "share = dout")],
     "dout / (pool_height * pool_width)"),
    ("batch_norm", [("(M * dout - dbeta[:, None, None]\n", "(M * dout - dbeta[:, None, None])\n"),
                    ("\n                                                - xhat * dgamma[:, None, None])",
                     "")], "missing the variance's chain term"),
    ("batch_norm", [("new_running_var = (1 - momentum) * running_var + momentum * var * M / (M - 1)",
                     "new_running_var = (1 - momentum) * running_var + momentum * var")],
     "unbiased"),
    ("batch_norm", [("if not training:", "if False:")], "running statistics"),
    ("lrn_forward", [("scale = k + alpha / size *", "scale = k + alpha *")],
     "divided by the window size"),
    ("lrn_forward", [("squares = x * x", "squares = np.abs(x)")], "SQUARES"),
    ("lrn_forward", [("max(c - size // 2, 0), min(c + (size - 1) // 2, C - 1)",
                      "max(c - (size - 1) // 2, 0), min(c + size // 2, C - 1)")],
     "the window of channel c"),
    ("dropout", [("mask = (keep / (1 - p)).astype(x.dtype)", "mask = keep.astype(x.dtype)")],
     "scales the kept units by 1 / (1 - p)"),
    ("dropout", [("keep = rng.random(x.shape) < 1 - p", "keep = rng.random(x.shape) < p")],
     "probability to DROP"),
    ("dropout", [("return dout * mask", "return dout")], "pass no gradient"),
    ("softmax_cross_entropy", [("dlogits / N", "dlogits")], "forgot the 1/N"),
    ("softmax_cross_entropy", [("shifted = logits - logits.max(axis=1, keepdims=True)",
                                "shifted = logits")], "exp overflowed"),
    ("softmax_cross_entropy", [("labels].mean()", "labels].sum()")], "MEAN over the batch"),
    ("sgd_momentum", [("\n    g = dw + weight_decay * w\n", "\n    g = dw\n")], "weight decay"),
    ("sgd_momentum", [("return w - lr * new_velocity", "return w - lr * velocity")],
     "NEW velocity"),
    ("sgd_momentum", [("\n    new_velocity = momentum * velocity + g\n",
                       "\n    new_velocity = momentum * velocity - lr * g\n"),
                      ("return w - lr * new_velocity", "return w + new_velocity")],
     "PyTorch's velocity"),
    ("two_layer_convnet", [("dlogits /= N", "dlogits /= 1")], "forgot the 1/N"),
    ("two_layer_convnet", [("dconv = drelu * (conv > 0)", "dconv = drelu")],
     "below the linear layer"),
    ("two_layer_convnet", [("value - lr * grads[name]", "value + lr * grads[name]")],
     "steps downhill"),
]


def _write(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_at_least_twelve_exercises_in_snake_case_each_with_two_wrong_solutions():
    assert len(NAMES) >= 12
    assert all(name.isidentifier() and name == name.lower() for name in NAMES)
    counts = {name: sum(1 for exercise, _, _ in WRONG if exercise == name) for name in NAMES}
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes(tmp_path, name):
    report = check_file(_write(tmp_path, name, solution_source(name)))
    assert report.passed, str(report)
    assert report.checks >= 3
    assert "PASSED" in str(report)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes_on_other_random_cases(tmp_path, name):
    path = _write(tmp_path, name, solution_source(name))
    for seed in (1, 2, 3):              # other random cases: the checker's --seed
        report = check_file(path, seed=seed, isolate=False)
        assert report.passed, str(report)


@pytest.mark.parametrize("name", NAMES)
def test_the_skeleton_imports_and_reports_not_implemented(tmp_path, name):
    skeleton = skeleton_source(name)
    solution_functions = [node for node in ast.parse(solution_source(name)).body
                          if isinstance(node, ast.FunctionDef)]
    skeleton_functions = [node for node in ast.parse(skeleton).body
                          if isinstance(node, ast.FunctionDef)]
    # the same signatures and docstrings, and bodies that only raise
    assert [ast.dump(f.args) for f in skeleton_functions] == \
        [ast.dump(f.args) for f in solution_functions]
    assert [ast.get_docstring(f) for f in skeleton_functions] == \
        [ast.get_docstring(f) for f in solution_functions]
    assert all(len(f.body) == 2 and isinstance(f.body[1], ast.Raise) for f in skeleton_functions)
    report = check_file(_write(tmp_path, name, skeleton))
    assert not report.passed
    assert report.not_implemented == [f.name for f in skeleton_functions]
    assert "not implemented yet" in str(report)


@pytest.mark.parametrize("name, replacements, hint", WRONG,
                         ids=[f"{name}-{hint[:24]}" for name, _, hint in WRONG])
def test_a_wrong_solution_fails_with_its_hint(tmp_path, name, replacements, hint):
    text = solution_source(name)
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur once in the {name} solution"
        text = text.replace(old, new)
    report = check_file(_write(tmp_path, name, text), isolate=False)
    assert not report.passed
    assert any(hint in shown for shown in report.hints), str(report)
    assert any(word in str(report) for word in ("WRONG", "shape", "CHANGED"))


def test_the_report_names_the_output_the_error_and_the_first_difference(tmp_path):
    text = solution_source("conv_backward").replace("db = dout.sum(axis=(0, 2, 3))",
                                                     "db = dout[0].sum(axis=(1, 2))")
    report = str(check_file(_write(tmp_path, "conv_backward", text)))
    assert "dx, dw ok" not in report        # dx and dw are right, so only db is reported
    assert "db: WRONG, 4 of 4 elements differ (largest element error" in report
    assert "first difference at (0,): yours" in report
    assert "hint: forgot to sum over the batch" in report
    # the gradient check runs on every case, so the batch of case 2 shows the same bug there
    assert re.search(r"gradient check, case 2 \(x 2x3x5x5.*\n.*\n.*\n    db: WRONG", report), report
    assert "FAILED: conv_backward" in report


def test_check_in_a_notebook_namespace():
    namespace = {}
    exec(compile(solution_source("sgd_momentum"), "<notebook cell>", "exec"), namespace)
    assert check("sgd_momentum", namespace)
    namespace["sgd_momentum"] = lambda w, dw, velocity, lr, momentum, weight_decay: (w, velocity)
    assert not check("sgd_momentum", namespace)
    with pytest.raises(ValueError, match="unknown exercise"):
        check("conv_backwards", namespace)


def test_a_skeleton_runs_as_a_notebook_cell_and_checks_in_place():
    namespace = {}
    exec(compile(skeleton_source("dropout"), "<notebook cell>", "exec"), namespace)
    assert not check("dropout", namespace)
    solved = {}
    exec(compile(solution_source("dropout"), "<notebook cell>", "exec"), solved)
    namespace["dropout_forward"] = solved["dropout_forward"]       # one function filled in
    report = check("dropout", namespace)
    assert report.not_implemented == ["dropout_backward"]
    assert "dropout_forward:\n  case 1" in str(report)
    assert 'print(check("dropout", globals()))' in skeleton_source("dropout")


def test_an_exercise_file_can_import_the_students_other_exercises(tmp_path):
    _write(tmp_path, "im2col", solution_source("im2col"))
    _write(tmp_path, "col2im", solution_source("col2im"))
    text = solution_source("conv_im2col").replace(
        "from minicnn.teach.given import col2im, im2col\n",
        "from col2im import col2im as my_col2im\nfrom im2col import im2col as my_im2col\n")
    text = text.replace("cols = im2col(x, kh, kw, stride, stride, padding, padding, 1, 1)",
                        "cols = my_im2col(x, kh, kw, stride, padding)")
    text = text.replace("dx = col2im(dcols, N, C, H, W, kh, kw, stride, stride, padding, padding, "
                        "1, 1)", "dx = my_col2im(dcols, x.shape, kh, kw, stride, padding)")
    assert "minicnn" not in text.split("\"\"\"")[2]
    assert check_file(_write(tmp_path, "conv_im2col", text))


def test_the_checker_does_not_let_a_solution_change_its_inputs(tmp_path):
    text = solution_source("sgd_momentum").replace(
        "    g = dw + weight_decay * w\n", "    g = dw + weight_decay * w\n    w *= 0\n")
    report = check_file(_write(tmp_path, "sgd_momentum", text))
    assert not report.passed
    assert "new_w: ok" not in str(report)          # each call gets fresh copies, so new_w is
    assert "your function changed its input w" in str(report)      # right, and w was changed


def test_cli_exercise_list_start_and_check(tmp_path, capsys):
    assert cli.main(["exercise", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(NAMES)

    folder = tmp_path / "work"
    assert cli.main(["exercise", "start", "conv_backward", "--dir", str(folder)]) == 0
    path = folder / "conv_backward.py"
    assert path.read_text() == skeleton_source("conv_backward")
    capsys.readouterr()
    assert cli.main(["check", str(path)]) == 1
    assert "not implemented yet" in capsys.readouterr().out

    assert cli.main(["exercise", "start", "conv_backward", "--dir", str(folder)]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli.main(["teacher", "solution", "conv_backward", "--dir", str(folder),
                     "--force"]) == 0
    capsys.readouterr()
    assert cli.main(["check", str(path)]) == 0
    assert "PASSED: conv_backward" in capsys.readouterr().out

    assert cli.main(["exercise", "start", "no_such", "--dir", str(folder)]) == 2
    assert cli.main(["check", str(folder / "missing.py")]) == 2


def test_a_file_that_raises_is_reported_not_crashed(tmp_path):
    text = solution_source("im2col").replace("    N, C, H, W = x.shape\n",
                                             "    N, C, H, W = x.shape\n    1 / 0\n")
    report = check_file(_write(tmp_path, "im2col", text))
    assert not report.passed
    assert "raised ZeroDivisionError" in str(report)
    assert np.isfinite(report.checks)


def test_a_file_that_does_not_import_fails_with_its_error(tmp_path, capsys):
    path = _write(tmp_path, "col2im", solution_source("col2im").replace("def col2im(", "def col2im("
                                                                        "cols x_shape, "))
    assert cli.main(["check", path]) == 1
    out = capsys.readouterr().out
    assert re.fullmatch(r"\S+ does not import: SyntaxError: [^()]+ \(line \d+\)\n", out), out
    assert out.count("line") == 1


def test_checking_a_folder_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"minicnn check: error: {tmp_path} is a folder, not an "
                                       "exercise file\n")


@pytest.mark.parametrize("name", ["im2col", "col2im"])
def test_the_data_movement_solutions_equal_the_reference_bit_for_bit(name):
    from minicnn.teach.specs import EXERCISES
    namespace = {}
    exec(compile(solution_source(name), name, "exec"), namespace)
    part = EXERCISES[name].parts[0]
    for case in EXERCISES[name].cases(np.random.default_rng(0)):
        (expected,) = part.reference(case.values).values()
        got = namespace[name](**part.prepare(case.values))
        np.testing.assert_array_equal(got, expected)


def test_a_dir_that_cannot_hold_the_exercise_is_a_usage_error(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert cli.main(["exercise", "start", "im2col", "--dir", str(afile)]) == 2
    assert capsys.readouterr().err == (f"minicnn exercise: error: --dir {afile} is a file, "
                                       "not a folder\n")
    assert cli.main(["exercise", "start", "im2col", "--dir", str(afile / "sub")]) == 2
    err = capsys.readouterr().err
    assert err == (f"minicnn exercise: error: cannot write {afile / 'sub' / 'im2col.py'}: "
                   "Not a directory\n")


def test_the_readme_notebook_line_checks_a_solved_namespace(tmp_path):
    """The README's line for a notebook, in a fresh interpreter after a plain `import minicnn`
    (a subpackage that minicnn does not import itself must be imported by the line)."""
    repo = Path(__file__).resolve().parents[2]
    readme = " ".join((repo / "README.md").read_text(encoding="utf-8").split())
    line = re.search(r"In a notebook, run the file in a cell and `([^`]+)`", readme).group(1)
    solved = tmp_path / "conv_backward.py"
    solved.write_text(solution_source("conv_backward"))
    done = subprocess.run([sys.executable, "-c", f"import minicnn\nexec(open({str(solved)!r})"
                           f".read())\n{line}"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    assert "PASSED: conv_backward" in done.stdout


def test_the_skeletons_are_made_from_the_solutions():
    for name in NAMES:
        assert skeleton_source(name) == exercises.make_skeleton(name, solution_source(name)), \
            f"run write_skeletons(): the {name} skeleton is out of date"


def test_no_solution_in_a_students_install(tmp_path, monkeypatch, capsys):
    """Without minicnn/teach/solutions (a wheel), exercises start and check; solutions are
    refused with a message; `exercise start --solution` does not exist."""
    monkeypatch.setattr(exercises, "SOLUTIONS", str(tmp_path / "absent"))
    assert cli.main(["exercise", "start", "max_pool", "--dir", str(tmp_path)]) == 0
    assert cli.main(["teacher", "solution", "max_pool", "--dir", str(tmp_path / "t")]) == 2
    assert "the solutions are not part of this install" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["exercise", "start", "max_pool", "--solution"])


@pytest.mark.parametrize("name", NAMES)
def test_three_hint_levels(capsys, name):
    texts = []
    for level in (1, 2, 3):
        assert cli.main(["exercise", "hint", name, "--level", str(level)]) == 0
        texts.append(capsys.readouterr().out)
        assert f"hint level {level} of 3" in texts[-1]
    assert len(set(texts)) == 3
    with pytest.raises(SystemExit):
        cli.main(["exercise", "hint", name, "--level", "4"])


def test_the_batch_norm_skeleton_does_not_give_the_closed_form_dx(capsys):
    skeleton = " ".join(skeleton_source("batch_norm").split())
    assert "mean(dout * xhat)" not in skeleton and "sum(dout * xhat)" not in skeleton
    assert "Derive dgamma, dbeta and dx" in skeleton
    assert cli.main(["exercise", "hint", "batch_norm", "--level", "3"]) == 0
    assert "mean(dout * xhat)" in " ".join(capsys.readouterr().out.split())


def test_a_notebook_holds_the_instructions_the_skeleton_and_a_check(tmp_path, capsys,
                                                                    monkeypatch):
    import json
    assert cli.main(["exercise", "notebook", "dropout", "--dir", str(tmp_path)]) == 0
    book = json.loads((tmp_path / "dropout.ipynb").read_text())
    assert book["nbformat"] == 4 and book["nbformat_minor"] >= 5
    kinds = [cell["cell_type"] for cell in book["cells"]]
    assert kinds == ["markdown", "code", "code"]
    assert all(isinstance(cell["source"], list) and cell["id"] for cell in book["cells"])
    assert "# Exercise dropout" in "".join(book["cells"][0]["source"])
    # run it as Jupyter would: the code cell's %%writefile saves the rest as dropout.py beside
    # the notebook, then the check cell grades that file
    magic, *code = book["cells"][1]["source"]
    assert magic == "%%writefile dropout.py\n"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dropout.py").write_text("".join(code))
    exec("".join(book["cells"][2]["source"]), {})
    assert "not implemented yet" in capsys.readouterr().out
    (tmp_path / "dropout.py").write_text(solution_source("dropout"))
    exec("".join(book["cells"][2]["source"]), {})
    assert "PASSED: dropout" in capsys.readouterr().out
