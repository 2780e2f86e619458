"""The teaching kit's subcommands of ``minicnn``: exercise, check, show and zoo.

``minicnn/cli.py`` registers them with ``add_parsers(commands)``; a usage problem raises
``minicnn.cli.UsageError`` (exit status 2), as everywhere in the command line.
"""

import json
import os

from minicnn.teach import exercises


def _usage_error(message):
    from minicnn.cli import UsageError
    return UsageError(message)


# ================================================================================= exercises
def cmd_exercise_list(args):
    width = max(len(name) for name in exercises.NAMES)
    for name in exercises.NAMES:
        print(f"{name:{width}s}  {exercises.title(name)}")
    return 0


def cmd_exercise_start(args):
    from minicnn.utils.checkpoint import atomic_write
    try:
        text = (exercises.solution_source if args.solution else exercises.skeleton_source)(args.name)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    path = os.path.join(args.dir, f"{args.name}.py")
    if os.path.exists(path) and not args.force:
        raise _usage_error(f"{path} exists (your work?); pass --force to overwrite it")
    if os.path.exists(args.dir) and not os.path.isdir(args.dir):
        raise _usage_error(f"--dir {args.dir} is a file, not a folder")
    try:
        os.makedirs(args.dir, exist_ok=True)
        atomic_write(path, lambda file: file.write(text.encode("utf-8")))
    except OSError as error:        # a --dir that cannot be made or written to
        raise _usage_error(f"cannot write {path}: {error.strerror or error}") from None
    kind = "solution" if args.solution else "exercise"
    print(f"wrote the {kind} {path}")
    if not args.solution:
        print(f"fill in the functions that raise NotImplementedError, then run: minicnn check {path}")
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
    """Add ``exercise``, ``check``, ``show`` and ``zoo`` to the ``minicnn`` subcommands."""
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
    start.add_argument("--solution", action="store_true",
                       help="write the solved file instead (for teachers)")
    start.add_argument("--force", action="store_true", help="overwrite an existing file")
    start.set_defaults(run=cmd_exercise_start)

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
