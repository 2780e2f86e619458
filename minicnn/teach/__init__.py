"""The teaching kit: exercises with an automatic checker, and pictures of what a CNN computes.

    minicnn exercise list                       # the exercises, one a line
    minicnn exercise start conv_backward        # writes conv_backward.py to fill in
    minicnn exercise notebook conv_backward     # ... or conv_backward.ipynb
    minicnn exercise hint conv_backward --level 2
    minicnn check conv_backward.py              # the teaching report; exit 0 when all pass
    minicnn check conv_backward.py --gradescope results.json
    minicnn teacher solution conv_backward      # from a source tree only
    minicnn show im2col | receptive-field | filters | activations | saliency ; minicnn zoo

In a notebook, after defining the functions of an exercise:

    from minicnn.teach import check
    print(check("conv_backward", globals()))
"""

from minicnn.teach.exercises import NAMES, skeleton_source, solution_source, title


def check(name, namespace, seed=0):
    """Check the functions of exercise ``name`` found in ``namespace`` (a dict such as
    ``globals()``, or a module); returns a Report (``str()`` is the teaching report, truthy
    when everything passed). Raises ValueError for an unknown exercise."""
    from minicnn.teach.checker import run
    from minicnn.teach.exercises import _check_name
    from minicnn.teach.specs import EXERCISES
    _check_name(name)
    return run(EXERCISES[name], namespace, seed)


def check_file(path, seed=0, isolate=True, time_limit=None, allow_frameworks=False):
    """Check a student's exercise file (the exercise is the file's ``EXERCISE`` constant, else
    its name). ``isolate`` (the default, and what ``minicnn check`` does) runs it in a child
    process with a time limit and the framework guard (``minicnn.teach.grade``); otherwise it is
    imported here. Raises FileNotFoundError, IsADirectoryError (a folder), ValueError (unknown
    exercise), and ImportFailure (isolated) or whatever importing the file raises."""
    if isolate:
        from minicnn.teach.grade import grade_file
        return grade_file(path, seed, time_limit, allow_frameworks)
    from minicnn.teach.checker import exercise_of, load_file
    module = load_file(path)
    return check(exercise_of(path, vars(module)), module, seed)


__all__ = ["NAMES", "check", "check_file", "skeleton_source", "solution_source", "title"]
