"""The grader a course can trust: the student's file runs in a child process, and whatever it
does there (exit, signal, endless loop, a framework doing the work, changing its inputs) ends
in a FAILED report with a message and a non-zero exit status; --json and --gradescope give
per-check scores."""

import json
import re

import numpy as np
import pytest

from minicnn import cli
from minicnn.teach import check, check_file, solution_source
from minicnn.teach.checker import OUTPUT_TOLERANCE, error


def _write(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(capsys, *arguments):
    status = cli.main(["check", *arguments])
    captured = capsys.readouterr()
    return status, captured.out


MAX_POOL_CALL = "    N, C, oh, ow = dout.shape\n"


@pytest.mark.parametrize("where, text, message", [
    ("import", lambda s: s.replace("import numpy as np\n", "import numpy as np\nimport sys\n"
                                   "sys.exit(0)\n"), "called sys.exit(0) while the file was "
                                                     "imported"),
    ("function", lambda s: s.replace(MAX_POOL_CALL, MAX_POOL_CALL + "    import sys\n"
                                     "    sys.exit(0)\n"), "called sys.exit(0) (line"),
    ("os._exit at import", lambda s: s.replace("import numpy as np\n", "import numpy as np\n"
                                               "import os\nos._exit(0)\n"),
     "your code ended the checker's process (exit status 0) while running importing your "
     "file"),
    ("os._exit in a function", lambda s: s.replace(MAX_POOL_CALL, MAX_POOL_CALL +
                                                   "    import os\n    os._exit(0)\n"),
     "your code ended the checker's process (exit status 0) while running max_pool_backward, "
     "case 1"),
    ("signal", lambda s: s.replace(MAX_POOL_CALL, MAX_POOL_CALL + "    import os, signal\n"
                                   "    os.kill(os.getpid(), signal.SIGSEGV)\n"),
     "killed by signal SIGSEGV (11) while running max_pool_backward, case 1"),
])
def test_an_exit_or_a_signal_is_a_failure_with_a_message(tmp_path, capsys, where, text, message):
    path = _write(tmp_path, "max_pool", text(solution_source("max_pool")))
    status, out = _run(capsys, path)
    assert status == 1
    assert message in out, out
    assert "PASSED" not in out


def test_an_endless_loop_stops_at_the_time_limit(tmp_path, capsys):
    text = solution_source("max_pool").replace(MAX_POOL_CALL, MAX_POOL_CALL + "    while True:\n"
                                               "        pass\n")
    status, out = _run(capsys, _write(tmp_path, "max_pool", text), "--time-limit", "5")
    assert status == 1
    assert "time limit: your code ran past the exercise's 5 s while running max_pool_backward, " \
           "case 1" in out, out


@pytest.mark.parametrize("line", ["import torch", "from minicnn.nn import functional as F",
                                  "import importlib", "x = __import__('minicnn')"])
def test_a_framework_import_is_refused_by_the_scan(tmp_path, capsys, line):
    text = solution_source("conv_backward").replace("import numpy as np\n",
                                                    f"import numpy as np\n{line}\n")
    status, out = _run(capsys, _write(tmp_path, "conv_backward", text))
    number = text.splitlines().index(line) + 1
    assert status == 1
    assert re.search(rf"your file uses .* \(line {number}\): an exercise is computed with NumPy "
                     "only", out), out


def test_a_hidden_framework_import_is_refused_by_the_import_hook(tmp_path, capsys):
    """exec hides the import from the static scan; the hook in the child still refuses it."""
    grads = ("import minicnn as mc\nfrom minicnn.nn import functional as F\n"
             "mc.tensor([1.0])\n")
    text = solution_source("conv_backward").replace(
        "    N, C, H, W = x.shape\n",
        "    exec(" + repr(grads) + ", globals())\n    N, C, H, W = x.shape\n", 1)
    path = _write(tmp_path, "conv_backward", text)
    status, out = _run(capsys, path)
    assert status == 1
    assert "raised ImportError: minicnn is not allowed in an exercise" in out, out
    status, out = _run(capsys, path, "--allow-frameworks")       # a course may relax it
    assert status == 0, out


def test_a_function_that_changes_its_input_fails_with_the_hint(tmp_path):
    # a max-pool backward that returns its dx in x's memory: right dx, wrong x afterwards
    text = solution_source("max_pool").replace("    return dx\n", "    x[...] = dx\n    return x\n")
    assert text.count("return x\n") == 1
    report = check_file(_write(tmp_path, "max_pool", text), isolate=False)
    assert not report.passed
    assert "your function changed its input x" in str(report)
    results = {c.name: c.passed for c in report.results}
    case = "max_pool_backward, case 2 (x 2x3x9x9, window 3x3, stride 2)"
    assert results[f"{case}: dx"] and not results[f"{case}: input x unchanged"]
    assert results["max_pool_backward gradient check, case 2: dx"]


def test_a_kernel_height_and_width_mix_up_fails_on_a_non_square_kernel(tmp_path):
    text = solution_source("conv_forward_naive")
    mixed = text.replace("F, _, kh, kw = w.shape", "F, _, kw, kh = w.shape")
    assert mixed != text
    report = check_file(_write(tmp_path, "conv_forward_naive", mixed), isolate=False)
    assert not report.passed
    assert re.search(r"case 1 \(.*3x3.*\): y ok", str(report))        # a square kernel passes
    assert re.search(r"case 3 \(.*filters 3x5.*\):\n", str(report)), str(report)


def test_no_element_with_a_relative_error_of_5e_4_is_ok():
    namespace = {}
    exec(compile(solution_source("dropout"), "dropout", "exec"), namespace)
    right = namespace["dropout_backward"]

    def slightly_wrong(dout, mask):          # every element 5e-4 off
        return right(dout, mask) * (1 + 5e-4)
    namespace["dropout_backward"] = slightly_wrong
    report = check("dropout", namespace)
    assert not report.passed
    assert not any(c.passed for c in report.results if c.name.startswith("dropout_backward"))
    assert error(np.array([1e-9 * (1 + 5e-4)]), np.array([1e-9]))[0] > OUTPUT_TOLERANCE
    assert "no absolute tolerance" in str(report)


def test_json_and_gradescope_results(tmp_path, capsys):
    text = solution_source("conv_backward").replace("db = dout.sum(axis=(0, 2, 3))",
                                                     "db = dout[0].sum(axis=(1, 2))")
    path = _write(tmp_path, "conv_backward", text)
    status, out = _run(capsys, path, "--json")
    assert status == 1
    result = json.loads(out)
    assert result["exercise"] == "conv_backward" and result["passed"] is False
    assert result["max_score"] == len(result["checks"]) > result["score"] > 0
    failed = [c for c in result["checks"] if not c["passed"]]
    assert {"name", "passed", "score", "max_score", "message"} <= set(failed[0])
    assert any("forgot to sum over the batch" in c["message"] for c in failed)

    results = tmp_path / "results.json"
    status, out = _run(capsys, path, "--gradescope", str(results))
    assert status == 1 and out == ""
    gradescope = json.loads(results.read_text())
    assert gradescope["score"] == result["score"]
    assert [t["name"] for t in gradescope["tests"]] == [c["name"] for c in result["checks"]]
    assert {t["status"] for t in gradescope["tests"]} == {"passed", "failed"}
    assert all(set(t) == {"name", "score", "max_score", "status", "output"}
               for t in gradescope["tests"])


def test_json_of_a_file_that_does_not_import(tmp_path, capsys):
    path = _write(tmp_path, "col2im", "def col2im(:\n")
    status, out = _run(capsys, path, "--json")
    assert status == 1
    result = json.loads(out)
    assert result["score"] == 0 and result["max_score"] == 1
    assert "does not import: SyntaxError" in result["checks"][0]["message"]


def test_the_help_says_the_code_runs_with_the_users_rights(capsys):
    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    assert "runs with YOUR rights" in " ".join(capsys.readouterr().out.split())
