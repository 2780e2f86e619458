"""The teaching kit's subcommands of ``minicnn``: exercise, teacher, check, show and zoo.

``minicnn/cli.py`` registers them with ``add_parsers(commands)``; a usage problem raises
``minicnn.recipes.UsageError`` (exit status 2), as everywhere in the command line.
"""

import json
import os
import textwrap

from minicnn.teach import exercises


def _usage_error(message):
    from minicnn.recipes import UsageError
    return UsageError(message)


# ================================================================================= exercises
def cmd_exercise_list(args):
    width = max(len(name) for name in exercises.NAMES)
    for name in exercises.NAMES:
        print(f"{name:{width}s}  {exercises.title(name)}")
    return 0


def _write_file(path, text, force, folder):
    """Write ``text`` to ``path`` atomically; usage errors for an existing file (without
    ``force``) and a folder that cannot hold it."""
    from minicnn.utils.checkpoint import atomic_write
    if os.path.exists(path) and not force:
        raise _usage_error(f"{path} exists (your work?); pass --force to overwrite it")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise _usage_error(f"--dir {folder} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        atomic_write(path, lambda file: file.write(text.encode("utf-8")))
    except OSError as error:        # a --dir that cannot be made or written to
        raise _usage_error(f"cannot write {path}: {error.strerror or error}") from None


def cmd_exercise_start(args):
    try:
        text = exercises.skeleton_source(args.name)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    path = os.path.join(args.dir, f"{args.name}.py")
    _write_file(path, text, args.force, args.dir)
    print(f"wrote the exercise {path}")
    print(f"fill in the functions that raise NotImplementedError, then run: minicnn check {path}")
    print(f"stuck? minicnn exercise hint {args.name} --level 1 (then 2, then 3: the derivation)")
    return 0


def cmd_exercise_hint(args):
    from minicnn.teach.hints import hint
    try:
        text = hint(args.name, args.level)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    names = {1: "a nudge", 2: "the method", 3: "the derivation"}
    print(f"{args.name}, hint level {args.level} of 3 ({names[args.level]}):")
    print(textwrap.fill(text, width=96))
    return 0


def notebook(name):
    """The exercise as a Jupyter notebook (nbformat 4.5 JSON, as a dict): the instructions, the
    skeleton to fill in (the cell saves itself as NAME.py: IPython's ``%%writefile``), and a
    cell that grades that file as ``minicnn check`` does: in a child process under the
    exercise's time limit, so an endless loop ends in a report that says so."""
    import ast
    source = exercises.skeleton_source(name)
    code = source[:source.index(exercises.NOTEBOOK_NOTE.format(name=name))] \
        if exercises.NOTEBOOK_NOTE.format(name=name) in source else source
    docstring = ast.get_docstring(ast.parse(code))
    title, _, body = docstring.partition("\n")
    instructions = (f"# {title}\n\n{body.strip()}\n\nFill in the functions of the next cell "
                    "(each raises `NotImplementedError` until you do) and run it: it saves "
                    f"itself as `{name}.py` beside this notebook. Then run the check cell: it "
                    f"grades `{name}.py` as `minicnn check {name}.py` does, in a separate "
                    "process under the exercise's time limit (an endless loop is stopped and "
                    "reported). To try your functions here, `%run "
                    f"{name}.py` in a cell of your own. Hints, from a nudge to the derivation: "
                    f"`minicnn exercise hint {name} --level 1` (2, 3).")
    code = f"%%writefile {name}.py\n" + code
    check = f"from minicnn.teach import check_file\nprint(check_file({name + '.py'!r}))"
    def cell(kind, text, number):
        lines = text.splitlines(keepends=True)
        made = {"cell_type": kind, "id": f"{name}-{number}", "metadata": {}, "source": lines}
        if kind == "code":
            made.update(execution_count=None, outputs=[])
        return made
    return {"cells": [cell("markdown", instructions, 1), cell("code", code.rstrip() + "\n", 2),
                      cell("code", check, 3)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def cmd_exercise_notebook(args):
    try:
        exercises._check_name(args.name)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    path = os.path.join(args.dir, f"{args.name}.ipynb")
    _write_file(path, json.dumps(notebook(args.name), indent=1) + "\n", args.force, args.dir)
    print(f"wrote the notebook {path}")
    return 0


def cmd_teacher_solution(args):
    try:
        text = exercises.solution_source(args.name)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    except FileNotFoundError as error:
        raise _usage_error(str(error)) from None
    path = os.path.join(args.dir, f"{args.name}.py")
    _write_file(path, text, args.force, args.dir)
    print(f"wrote the solution {path}")
    return 0


def cmd_check(args):
    from minicnn.teach.grade import ImportFailure, grade_file
    from minicnn.utils.checkpoint import atomic_write
    quiet = args.json or args.gradescope
    try:
        report = grade_file(args.file, seed=args.seed, time_limit=args.time_limit,
                            allow_frameworks=args.allow_frameworks)
    except (FileNotFoundError, IsADirectoryError, ValueError) as error:
        raise _usage_error(str(error)) from None
    except ImportFailure as failure:
        if not quiet:
            print(f"{args.file} does not import: {failure}")
            return 1
        from minicnn.teach.checker import Report
        from minicnn.teach.grade import exercise_name
        with open(args.file, encoding="utf-8", errors="replace") as file:
            report = Report(exercise_name(args.file, file.read()))
        report.fail(f"{args.file} does not import: {failure}")
        report.lines.append(report.summary())
    if args.gradescope:
        text = json.dumps(gradescope(report), indent=2) + "\n"
        try:
            atomic_write(args.gradescope, lambda file: file.write(text.encode("utf-8")))
        except OSError as error:
            raise _usage_error(f"cannot write {args.gradescope}: {error.strerror or error}") \
                from None
    if args.json:
        print(json.dumps(as_json(report), indent=2))
    elif not args.gradescope:
        print(f"checking {args.file} (exercise {report.name}, seed {args.seed})")
        print(report)
    return 0 if report else 1


def as_json(report):
    """``minicnn check --json``: the exercise, passed, score and max_score, and one entry per
    check (name, passed, score, max_score, message); every check is worth one point."""
    checks = [{"name": c.name, "passed": c.passed, "score": int(c.passed), "max_score": 1,
               "message": c.message} for c in report.results]
    return {"exercise": report.name, "passed": report.passed,
            "score": sum(c["score"] for c in checks), "max_score": len(checks),
            "not_implemented": report.not_implemented, "checks": checks,
            "report": str(report)}


def gradescope(report):
    """Gradescope's autograder results.json (https://gradescope-autograders.readthedocs.io,
    "Output format"): a top-level score, and tests[] with name, score, max_score, status
    ("passed" / "failed") and output; the whole teaching report is the top-level output."""
    tests = [{"name": c.name, "score": int(c.passed), "max_score": 1,
              "status": "passed" if c.passed else "failed", "output": c.message}
             for c in report.results]
    return {"score": sum(t["score"] for t in tests), "output": str(report),
            "visibility": "visible", "tests": tests}


def add_parsers(commands):
    """Add ``exercise``, ``teacher``, ``check``, ``show`` and ``zoo`` to the ``minicnn``
    subcommands."""
    exercise = commands.add_parser(
        "exercise", help="backprop exercises: list them, start one",
        description="Exercises in the style of CS231n's assignment 2, graded by `minicnn check`.")
    actions = exercise.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the exercises, one a line, the name first")
    listing.set_defaults(run=cmd_exercise_list)
    start = actions.add_parser(
        "start", help="write an exercise file to fill in",
        description="Write DIR/NAME.py: the functions to implement, with their shapes and math "
                    "in the docstrings, and bodies that raise NotImplementedError.")
    start.add_argument("name", metavar="NAME", help="an exercise (see `minicnn exercise list`)")
    start.add_argument("--dir", default=".", help="folder to write into (default: here)")
    start.add_argument("--force", action="store_true", help="overwrite an existing file")
    start.set_defaults(run=cmd_exercise_start)
    hint = actions.add_parser(
        "hint", help="a hint for an exercise: level 1 a nudge, 2 the method, 3 the derivation")
    hint.add_argument("name", metavar="NAME", help="an exercise (see `minicnn exercise list`)")
    hint.add_argument("--level", type=int, choices=(1, 2, 3), default=1,
                      help="1 a nudge (default), 2 the method, 3 the derivation")
    hint.set_defaults(run=cmd_exercise_hint)
    book = actions.add_parser(
        "notebook", help="write the exercise as a Jupyter notebook (NAME.ipynb)",
        description="Write DIR/NAME.ipynb: the instructions, the skeleton to fill in and a "
                    "cell that checks it.")
    book.add_argument("name", metavar="NAME", help="an exercise (see `minicnn exercise list`)")
    book.add_argument("--dir", default=".", help="folder to write into (default: here)")
    book.add_argument("--force", action="store_true", help="overwrite an existing file")
    book.set_defaults(run=cmd_exercise_notebook)

    teacher = commands.add_parser(
        "teacher", help="for teachers: the solutions of the exercises",
        description="The solutions live in minicnn's source tree only "
                    "(minicnn/teach/solutions/): a wheel or a plain pip install has none, so a "
                    "student's install cannot print them.")
    teacher_actions = teacher.add_subparsers(dest="action", metavar="ACTION", required=True)
    solution = teacher_actions.add_parser("solution", help="write the solved exercise file")
    solution.add_argument("name", metavar="NAME", help="an exercise (see `minicnn exercise list`)")
    solution.add_argument("--dir", default=".", help="folder to write into (default: here)")
    solution.add_argument("--force", action="store_true", help="overwrite an existing file")
    solution.set_defaults(run=cmd_teacher_solution)

    check = commands.add_parser(
        "check", help="grade an exercise file against minicnn's reference",
        description="Run the functions of an exercise file against minicnn's reference on "
                    "fixed and random shapes, then a float64 gradient check, and print what is "
                    "wrong with hints. The file runs in a child process under the exercise's "
                    "time limit; an exit, a signal or the time limit there is a failure. The "
                    "file's code runs with YOUR rights (it can read and write your files): "
                    "check only files you trust, or run in a container. Exit status 0 only "
                    "when everything passes.")
    check.add_argument("file", metavar="FILE", help="the exercise file, e.g. conv_backward.py")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    check.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                       help="stop the file's code after this long (default: the exercise's, "
                            "60 s for most)")
    check.add_argument("--json", action="store_true",
                       help="print the result as JSON: per check name, passed, score, message")
    check.add_argument("--gradescope", metavar="PATH",
                       help="write Gradescope's results.json to PATH (one test per check)")
    check.add_argument("--allow-frameworks", action="store_true",
                       help="let the file import minicnn, torch, jax, ... (a course setting; "
                            "by default an exercise is NumPy only)")
    check.set_defaults(run=cmd_check)
    from minicnn.teach import pictures
    pictures.add_parsers(commands)
    return commands
