"""The check cell of `minicnn exercise notebook NAME` grades as `minicnn check` does: an endless
loop in the student's code stops at the exercise's own time limit, with a report that says so."""

import json

from minicnn import cli
from minicnn.teach import solution_source
from minicnn.teach.specs import EXERCISES


def test_the_check_cell_stops_an_endless_loop_at_the_exercises_time_limit(tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(EXERCISES["max_pool"], "time_limit", 3.0)
    assert cli.main(["exercise", "notebook", "max_pool", "--dir", str(tmp_path)]) == 0
    book = json.loads((tmp_path / "max_pool.ipynb").read_text())
    call = "    N, C, oh, ow = dout.shape\n"
    endless = solution_source("max_pool").replace(call, call + "    while True:\n        pass\n")
    # what the code cell's %%writefile does when the student runs it
    assert book["cells"][1]["source"][0] == "%%writefile max_pool.py\n"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "max_pool.py").write_text(endless)
    capsys.readouterr()
    exec("".join(book["cells"][2]["source"]), {})
    out = capsys.readouterr().out
    assert "time limit: your code ran past the exercise's 3 s while running max_pool_backward, " \
           "case 1" in out, out
    assert "FAILED" in out and "PASSED" not in out
