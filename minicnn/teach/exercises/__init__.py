"""The exercises: one Python file per exercise in this folder, which is the solution.

The student's skeleton is made from the same file: every top-level function keeps its
signature and docstring, and its body becomes ``raise NotImplementedError``. So the solution
that the tests check against minicnn's reference and the skeleton a student fills in can never
drift apart.
"""

import ast
import os

FOLDER = os.path.dirname(os.path.abspath(__file__))

# in the order of a course: data layout, the convolution, pooling, normalisation, the loss,
# the optimizer, a whole training step
NAMES = ("im2col", "col2im", "conv_forward_naive", "conv_backward", "conv_im2col", "max_pool",
         "avg_pool", "batch_norm", "lrn_forward", "dropout", "softmax_cross_entropy",
         "sgd_momentum", "two_layer_convnet")


NOTEBOOK_NOTE = """

# In a Jupyter notebook: run this file in a cell (%run {name}.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("{name}", globals()))
"""


def _check_name(name):
    if name not in NAMES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(NAMES)}")


def solution_source(name):
    """The solved exercise file, as text."""
    _check_name(name)
    with open(os.path.join(FOLDER, f"{name}.py"), encoding="utf-8") as file:
        return file.read()


def title(name):
    """The first line of the exercise's docstring, after 'Exercise NAME: '."""
    first = ast.get_docstring(ast.parse(solution_source(name))).splitlines()[0]
    return first.split(": ", 1)[1]


def skeleton_source(name):
    """The exercise file with every top-level function body replaced by
    ``raise NotImplementedError``; everything else (docstrings, imports, comments outside the
    bodies) as in the solution, and a note at the end on checking it in a notebook."""
    source = solution_source(name)
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
