"""The exercises: the skeleton a student fills in (one file per exercise in this folder) and,
in the source tree only, its solution (``minicnn/teach/solutions/NAME.py``).

The skeletons are made from the solutions: every top-level function keeps its signature and
docstring, and its body becomes ``raise NotImplementedError``. ``write_skeletons()`` writes them
again after a solution changed, and a test checks that
they agree, so the solution the tests check against minicnn's reference and the skeleton a
student fills in never drift apart.

The solutions folder is not a package and not package data: a wheel or a plain ``pip install``
of minicnn has no solutions in it, so a student's install cannot print them. A teacher works
from the source tree, where ``minicnn teacher solution NAME`` writes one.
"""

import ast
import os

FOLDER = os.path.dirname(os.path.abspath(__file__))
SOLUTIONS = os.path.join(os.path.dirname(FOLDER), "solutions")

# in the order of a course (CS231n's assignment 2, then the convolution): the gradient check,
# fully connected layers and nets, normalisation, dropout, the loss, the optimizers, the data
# layout of the convolution, the convolution, pooling, a whole conv net's training step
NAMES = ("gradient_check", "affine_relu", "softmax_cross_entropy", "fc_net", "sgd_momentum",
         "adam_rmsprop", "batch_norm_1d", "layer_norm", "dropout", "solver", "im2col", "col2im",
         "conv_forward_naive", "conv_backward", "conv_im2col", "max_pool", "avg_pool",
         "batch_norm", "group_norm", "lrn_forward", "two_layer_convnet", "three_layer_convnet")


NOTEBOOK_NOTE = """

# In a Jupyter notebook: run this file in a cell (%run {name}.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("{name}", globals()))
"""


def _check_name(name):
    if name not in NAMES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(NAMES)}")


def solutions_available():
    """Whether this install has the solutions (a source tree) or not (a student's install)."""
    return os.path.isdir(SOLUTIONS)


def solution_source(name):
    """The solved exercise file, as text. Raises ValueError for an unknown exercise and
    FileNotFoundError where the solutions are not installed."""
    _check_name(name)
    path = os.path.join(SOLUTIONS, f"{name}.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the solutions are not part of this install (no {path}): a "
                                "teacher gets them from minicnn's source tree")
    with open(path, encoding="utf-8") as file:
        return file.read()


def skeleton_source(name):
    """The exercise file a student starts from, as text."""
    _check_name(name)
    with open(os.path.join(FOLDER, f"{name}.py"), encoding="utf-8") as file:
        return file.read()


def title(name):
    """The first line of the exercise's docstring, after 'Exercise NAME: '."""
    first = ast.get_docstring(ast.parse(skeleton_source(name))).splitlines()[0]
    return first.split(": ", 1)[1]


def make_skeleton(name, source):
    """The solution ``source`` with every top-level function body replaced by
    ``raise NotImplementedError``; everything else (docstrings, imports, comments outside the
    bodies) kept, and a note at the end on checking it in a notebook."""
    lines = source.splitlines(keepends=True)
    functions = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    # splice from the last function up, so earlier line numbers stay valid
    for function in reversed(functions):
        docstring = function.body[0]
        if not (isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)):
            raise ValueError(f"exercise {name}: function {function.name} needs a docstring")
        indent = " " * docstring.col_offset
        body = [f"{indent}raise NotImplementedError(\"{function.name}: your code here\")\n"]
        lines[docstring.end_lineno:function.end_lineno] = body
    return "".join(lines) + NOTEBOOK_NOTE.format(name=name)


def write_skeletons():
    """Write every skeleton from its solution (after a solution changed)."""
    for name in NAMES:
        with open(os.path.join(FOLDER, f"{name}.py"), "w", encoding="utf-8") as file:
            file.write(make_skeleton(name, solution_source(name)))
