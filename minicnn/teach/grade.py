"""Grading a student's file the way a course needs it: in a child process, with a time limit,
and without the frameworks that would do the exercise for it.

    report = grade_file("max_pool.py")           # a Report, as checker.run returns
    report.to_dict()                             # per-check name, passed, message

The student's code runs with the rights of the user who runs ``minicnn check`` (it can read and
write their files): this is isolation against accidents, not a sandbox. Run untrusted
submissions in a container, as Gradescope's autograder does.

What is caught, and how:
- the file ends the process (sys.exit or os._exit, at import or inside a graded function), is
  killed by a signal, or runs past the exercise's time limit: the child never writes its
  final report, so the parent reports a failure naming what happened and where (the child
  writes a progress line before each call). sys.exit inside a graded function is caught in the
  child and fails that check.
- the file uses minicnn, torch or another framework's autograd for the exercise's own
  computation: a static scan of the source (import statements of those packages, and
  ``__import__`` / ``importlib`` / ``sys.modules`` that could reach them by name) before the
  file runs, and an import hook in the child (``builtins.__import__`` wrapped: an import made by
  code of the student's folder is refused). ``allow_frameworks=True`` (``minicnn check
  --allow-frameworks``) relaxes both, for a course that wants it. The tools an exercise hands
  out stay allowed in it (``minicnn.teach.given``: im2col and col2im in conv_im2col and
  two_layer_convnet, never in the im2col exercise itself).
"""

import ast
import builtins
import json
import os
import signal
import subprocess
import sys
import tempfile

FRAMEWORKS = ("minicnn", "torch", "tensorflow", "keras", "jax", "flax", "autograd", "chainer",
              "mxnet", "paddle", "tinygrad", "mlx", "theano")


def _exercise(name):
    from minicnn.teach.specs import EXERCISES
    from minicnn.teach.exercises import _check_name
    _check_name(name)
    return EXERCISES[name]


def exercise_name(path, source):
    """The exercise a file is for, read without running it: its ``EXERCISE = "..."`` constant,
    else its file name."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "EXERCISE"
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return os.path.splitext(os.path.basename(path))[0]


def _banned(module, allowed):
    top = module.split(".")[0]
    return top in FRAMEWORKS and not any(module == a or module.startswith(a + ".")
                                         for a in allowed)


def scan(source, allowed=()):
    """The lines of ``source`` that import a framework (not in ``allowed``) or import by name:
    a list of (line number, what)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []           # reported when the file is imported
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names
                      if _banned(a.name, allowed)]
            found += [(node.lineno, "importlib (an import by name)") for a in node.names
                      if a.name.split(".")[0] == "importlib"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _banned(node.module, allowed):
                found.append((node.lineno, f"from {node.module} import ..."))
            elif node.module.split(".")[0] == "importlib":
                found.append((node.lineno, "importlib (an import by name)"))
        elif isinstance(node, ast.Name) and node.id == "__import__":
            found.append((node.lineno, "__import__ (an import by name)"))
        elif isinstance(node, ast.Attribute) and node.attr == "modules" and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            found.append((node.lineno, "sys.modules (a module by name)"))
    return sorted(set(found))


def _guard(folder, allowed):
    """Refuse framework imports made by code in the student's ``folder`` (import hook)."""
    original = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        where = (globals or {}).get("__file__") or ""
        if level == 0 and where and os.path.dirname(os.path.abspath(where)) == folder \
                and _banned(name, allowed):
            raise ImportError(f"{name} is not allowed in an exercise: the point is to compute "
                              "it yourself with NumPy (a course can relax this with "
                              "`minicnn check --allow-frameworks`)")
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded


FRAMEWORK_MESSAGE = ("your file uses {what} (line {line}): an exercise is computed with NumPy "
                     "only, not with minicnn, torch or another framework's autograd (a course can "
                     "relax this with `minicnn check --allow-frameworks`)")


# ----- the child ---------------------------------------------------------------------------

def _child(path, seed, result, allow_frameworks):
    from minicnn.teach.checker import Report, load_file, run
    out = open(result, "w", encoding="utf-8")

    def emit(**event):
        out.write(json.dumps(event) + "\n")
        out.flush()

    with open(path, encoding="utf-8", errors="replace") as file:
        source = file.read()
    exercise = _exercise(exercise_name(path, source))
    folder = os.path.dirname(os.path.abspath(path))
    if not allow_frameworks:
        found = scan(source, exercise.allowed)
        if found:
            report = Report(exercise.name)
            report.fail(FRAMEWORK_MESSAGE.format(line=found[0][0], what=found[0][1]))
            report.lines.append(report.summary())
            emit(event="report", report=report.to_dict())
            return
        _guard(folder, exercise.allowed)
    emit(event="progress", where="importing your file")
    try:
        module = load_file(path)
    except SystemExit as error:
        emit(event="import_error", message=f"called sys.exit({error.code!r}) while the file "
                                           "was imported: nothing was checked")
        return
    except Exception as error:  # noqa: BLE001  (the student's file may raise anything)
        # a SyntaxError's own text repeats the file name: its message and line say it all
        detail = f"{error.msg} (line {error.lineno})" if isinstance(error, SyntaxError) else error
        emit(event="import_error", message=f"{type(error).__name__}: {detail}")
        return
    report = run(exercise, module, seed,
                 progress=lambda part, case: emit(event="progress",
                                                  where=f"{part}, case {case}"))
    emit(event="report", report=report.to_dict())


# ----- the parent --------------------------------------------------------------------------

class ImportFailure(Exception):
    """The student's file does not import (its message says why)."""


def grade_file(path, seed=0, time_limit=None, allow_frameworks=False, output=None):
    """Check the exercise file ``path`` in a child process; returns a Report. ``time_limit``
    (seconds) defaults to the exercise's. What the file prints goes to ``output`` (a text file,
    default sys.stderr). Raises FileNotFoundError, IsADirectoryError, ValueError (an unknown
    exercise) and ImportFailure (the file does not import)."""
    from minicnn.teach.checker import Report
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not an exercise file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, encoding="utf-8", errors="replace") as file:
        exercise = _exercise(exercise_name(path, file.read()))
    limit = exercise.time_limit if time_limit is None else time_limit
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    with tempfile.TemporaryDirectory(prefix="minicnn-check-") as folder:
        result = os.path.join(folder, "events")
        printed = os.path.join(folder, "printed")
        command = [sys.executable, "-m", "minicnn.teach.grade", os.path.abspath(path),
                   str(seed), result] + (["--allow-frameworks"] if allow_frameworks else [])
        with open(printed, "wb") as sink:
            child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                status = child.wait(timeout=limit)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                status = child.wait()
                timed_out = True
        events = []
        if os.path.exists(result):
            with open(result, encoding="utf-8") as file:
                for line in file:
                    try:
                        events.append(json.loads(line))
                    except json.JSONDecodeError:
                        break
        with open(printed, encoding="utf-8", errors="replace") as file:
            text = file.read()
    if text.strip():
        print(f"--- what {os.path.basename(path)} printed ---\n{text.rstrip()}\n---",
              file=output or sys.stderr)
    final = [e for e in events if e.get("event") in ("report", "import_error")]
    if final and final[-1]["event"] == "import_error":
        raise ImportFailure(final[-1]["message"])
    if final and not timed_out:
        return Report.from_dict(final[-1]["report"])
    where = [e["where"] for e in events if e.get("event") == "progress"]
    during = f" while running {where[-1]}" if where else ""
    report = Report(exercise.name)
    if timed_out:
        report.fail(f"time limit: your code ran past the exercise's {limit:g} s{during}; "
                    "look for a loop that never ends (to allow more: `minicnn check --time-limit "
                    "SECONDS`, or check_file(..., time_limit=SECONDS))")
    elif status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else "?"
        report.fail(f"the checker's process was killed by signal {name} ({-status}){during}; "
                    "nothing after that was checked")
    else:
        report.fail(f"your code ended the checker's process (exit status {status}){during}, "
                    "before the checks finished (sys.exit or os._exit?): nothing after that "
                    "was checked")
    report.lines.append(report.summary())
    return report


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), sys.argv[3], "--allow-frameworks" in sys.argv[4:])
