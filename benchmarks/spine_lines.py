"""Code lines of minicnn's spine, per file: what a reader must hold in their head.

The spine is the autograd core, the array ops, the backend (the array helpers, which kernel set
runs an op, the geometry and the NumPy reference kernels) and the differentiable ops of
``nn/functional``. Left out: the compiled kernel sets' wrappers (``ckernels.py``, ``cuda.py``),
the contract they share (``contract.py``, ``validate.py``), the tiling of the reference
convolution's products (``tiling.py``, a speed-up that leaves the math of ``reference.py``
whole) and ``info.py``. A code line is a line that holds a token other than a comment
or a docstring (a string standing alone as a statement); blank lines do not count.

    python3 benchmarks/spine_lines.py [ROOT]      # ROOT: a checkout (default: this one)
"""

import ast
import io
import sys
import tokenize
from pathlib import Path

TARGET = 2000      # the brief: the textbook spine stays at or under 2,000 code lines
OUTSIDE_THE_SPINE = {"ckernels.py", "cuda.py", "contract.py", "validate.py", "tiling.py",
                     "info.py"}


def spine_files(root):
    package = Path(root) / "minicnn"
    files = [package / "autograd.py", package / "ops.py"]
    files += sorted(p for p in (package / "backend").glob("*.py")
                    if p.name not in OUTSIDE_THE_SPINE)
    files += sorted((package / "nn" / "functional").glob("*.py"))
    return [p for p in files if p.exists()]


def code_lines(source):
    """The number of lines of ``source`` that hold code (see the module docstring)."""
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            docstring_lines.update(range(node.lineno, node.end_lineno + 1))
    lines = set()
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
               tokenize.DEDENT, tokenize.ENDMARKER)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in skipped:
            continue
        lines.update(line for line in range(token.start[0], token.end[0] + 1)
                     if line not in docstring_lines)
    return len(lines)


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    total = 0
    for path in spine_files(root):
        count = code_lines(path.read_text())
        total += count
        print(f"{count:6d}  {path.relative_to(root)}")
    print(f"{total:6d}  total (target <= {TARGET:,})")


if __name__ == "__main__":
    main()
