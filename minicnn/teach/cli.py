"""The teaching kit's subcommands of ``minicnn``: exercise, check, show and zoo.

``minicnn/cli.py`` registers them with ``add_parsers(commands)``; a usage problem raises
``minicnn.recipes.UsageError`` (exit status 2), as everywhere in the command line.
"""

import os

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
    from minicnn.teach import check
    from minicnn.teach.checker import exercise_of, load_file
    try:
        module = load_file(args.file)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise _usage_error(str(error)) from None
    except Exception as error:  # noqa: BLE001  (the student's file may raise anything)
        # a SyntaxError's own text repeats the file name: its message and line say it all
        detail = f"{error.msg} (line {error.lineno})" if isinstance(error, SyntaxError) else error
        print(f"{args.file} does not import: {type(error).__name__}: {detail}")
        return 1
    try:
        report = check(exercise_of(args.file, vars(module)), module, seed=args.seed)
    except ValueError as error:
        raise _usage_error(str(error)) from None
    print(f"checking {args.file} (exercise {report.name}, seed {args.seed})")
    print(report)
    return 0 if report else 1


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
                    "wrong with hints. Exit status 0 only when everything passes.")
    check.add_argument("file", metavar="FILE", help="the exercise file, e.g. conv_backward.py")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    check.set_defaults(run=cmd_check)
    from minicnn.teach import pictures
    pictures.add_parsers(commands)
    return commands
