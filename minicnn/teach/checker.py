"""The exercise checker: run a student's functions against minicnn's reference and say what is
wrong in words a student can act on.

For every case (small fixed shapes, then random ones: odd sizes, stride > 1, padding, batch 1)
each output is compared with the reference; a wrong output is reported with its relative error,
the first element that differs (both values) and, when the wrong values are those of a mistake
the exercise knows (forgot to sum over the batch, transposed kernel, ...), a hint. Backward
functions then go through a float64 gradient check (``minicnn.utils.gradcheck``: central
differences of the reference forward pass against the student's backward, with a random
upstream gradient).

    report = check_file("conv_backward.py")     # or check("conv_backward", globals()) in a notebook
    print(report)                               # the teaching report
    bool(report)                                # True when everything passed
"""

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import minicnn as mc
from minicnn.autograd import Function
from minicnn.utils.gradcheck import gradcheck

RTOL = 1e-7     # the solutions agree with the reference to rounding; float64 throughout
ATOL = 1e-10


@dataclass
class Mistake:
    """A recognisable mistake: ``test(values, expected, got)`` (dicts of named arrays) is True
    when the wrong ``output`` looks like it; then ``hint`` is shown."""
    output: str
    hint: str
    test: Callable


@dataclass
class Gradient:
    """A float64 gradient check of a backward function: the reference ``forward(values)``
    differentiated by central differences with respect to ``wrt`` (names in the case's values),
    against ``backward(student_function, values, upstream)``, which returns one gradient per
    name in ``wrt``."""
    wrt: tuple
    forward: Callable
    backward: Callable


@dataclass
class Part:
    """One function of an exercise: it is called as ``function(**prepare(values))``, its result
    unpacked into named outputs by ``unpack`` and compared with ``reference(values)`` (a dict)."""
    function: str
    reference: Callable
    prepare: Callable
    unpack: Callable
    mistakes: tuple = ()
    gradient: Gradient = None


@dataclass
class Case:
    """One input of an exercise: ``values`` (name -> array or number) feeds every part;
    ``label`` names the case in the report."""
    label: str
    values: dict


@dataclass
class Exercise:
    """An exercise: its Parts, checked in order on the Cases that ``cases(rng)`` draws."""
    name: str
    parts: tuple
    cases: Callable            # rng -> list of Case


def outputs(*names):
    """An ``unpack`` for a function that returns these outputs (one name: a bare value)."""
    def unpack(result):
        results = result if len(names) > 1 else (result,)
        if not isinstance(results, tuple) or len(results) != len(names):
            raise TypeError(f"expected a tuple of {len(names)} values "
                            f"({', '.join(names)}), got {type(result).__name__}")
        return dict(zip(names, results))
    return unpack


def arguments(*names):
    """A ``prepare`` that passes these case values as keyword arguments."""
    return lambda values: {name: values[name] for name in names}


# ----- comparing one output ----------------------------------------------------------------

def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL)


def same_as(output, hint, wrong):
    """The mistake whose output is ``wrong(values)``."""
    return Mistake(output, hint, lambda values, expected, got: _close(got[output], wrong(values)))


def scaled(output, hint, factor):
    """The mistake whose output is the right one times ``factor(values)``."""
    return Mistake(output, hint, lambda values, expected, got: _close(
        got[output], np.asarray(expected[output]) * factor(values)))


def wrong_only_where(output, hint, where):
    """The mistake that is right everywhere except (somewhere) where ``where(values)`` is True:
    e.g. only at pixels that several windows share."""
    def test(values, expected, got):
        g, e = np.asarray(got[output]), np.asarray(expected[output])
        if g.shape != e.shape:
            return False
        bad = ~np.isclose(g, e, rtol=RTOL, atol=ATOL)
        return bool(bad.any()) and not bool((bad & ~where(values)).any())
    return Mistake(output, hint, test)


OFF_BY_ONE = ("off-by-one output size: the output has floor((H + 2*padding - dilation*(k - 1) "
              "- 1) / stride) + 1 rows, i.e. (H + 2*padding - k) // stride + 1 without dilation")


@dataclass
class Finding:
    """The comparison of one output in one case."""
    output: str
    passed: bool
    lines: list = field(default_factory=list)


def _compare(output, got, expected):
    expected = np.asarray(expected)
    if got is None:
        return Finding(output, False, [f"{output}: returned None, expected an array of shape "
                                       f"{expected.shape}"])
    got = np.asarray(got)
    if got.shape != expected.shape:
        lines = [f"{output}: shape {got.shape}, expected {expected.shape}"]
        if (got.ndim == expected.ndim >= 2 and got.shape[:-2] == expected.shape[:-2]
                and all(abs(g - e) <= 1 for g, e in zip(got.shape[-2:], expected.shape[-2:]))):
            lines.append(f"  hint: {OFF_BY_ONE}")
        return Finding(output, False, lines)
    if got.dtype.kind not in "biuf":
        return Finding(output, False, [f"{output}: dtype {got.dtype}, expected numbers"])
    got = got.astype(np.float64)
    difference = np.abs(got - expected)
    bad = ~(difference <= ATOL + RTOL * np.abs(expected))      # NaN counts as bad
    scale = float(np.abs(expected).max(initial=0.0))
    if not bad.any():
        error = float(difference.max(initial=0.0)) / max(scale, 1e-300)
        return Finding(output, True, [f"{output}: ok (relative error {error:.1e})"])
    finite = np.isfinite(got)
    if not finite.all():
        error = float("inf")
    else:
        error = float(difference.max()) / max(scale, 1e-300)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    lines = [f"{output}: WRONG, relative error {error:.2e} (max |yours - expected| / "
             f"max |expected|), {int(bad.sum())} of {bad.size} elements differ",
             f"  first difference at {first}: yours {got[first]:.10g}, expected "
             f"{expected[first]:.10g}"]
    if not finite.all():
        lines.append("  hint: your values overflowed to inf or NaN")
    return Finding(output, False, lines)


# ----- running an exercise -----------------------------------------------------------------

class _NotImplemented(Exception):
    pass


def _call(function, kwargs):
    try:
        with np.errstate(all="ignore"):      # an overflow is reported, with its hint, below
            return function(**{key: _copy(value) for key, value in kwargs.items()}), None
    except NotImplementedError:
        raise _NotImplemented from None
    except Exception as error:  # noqa: BLE001  (a student's code may raise anything)
        # the deepest line of the student's own file, not of NumPy inside it
        code = getattr(function, "__code__", None)
        frames = [frame for frame in traceback.extract_tb(error.__traceback__)
                  if code is not None and frame.filename == code.co_filename]
        where = f" (line {frames[-1].lineno} of {os.path.basename(frames[-1].filename)})" \
            if frames else ""
        return None, f"raised {type(error).__name__}: {error}{where}"


def _copy(value):
    """The student's code gets its own copies, so it cannot change the checker's inputs."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


class Report:
    """The result of checking one exercise: ``lines`` (the teaching report), ``passed``,
    ``checks`` and ``failures`` (counts), and ``hints`` (those shown)."""

    def __init__(self, name):
        self.name = name
        self.lines = []
        self.checks = 0
        self.failures = 0
        self.hints = []
        self.not_implemented = []

    @property
    def passed(self):
        """At least one check ran, none failed, and every function was implemented."""
        return self.checks > 0 and self.failures == 0 and not self.not_implemented

    def __bool__(self):
        return self.passed

    def __str__(self):
        return "\n".join(self.lines)

    def add(self, finding, indent="    "):
        """Count one check (a Finding) and append its lines to the report, indented."""
        self.checks += 1
        self.failures += not finding.passed
        self.lines += [indent + line for line in finding.lines]


def _gradient_check(report, part, function, case):
    spec = part.gradient
    values = case.values

    class StudentBackward(Function):
        def forward(self, *arrays):
            self.values = dict(values, **dict(zip(spec.wrt, arrays)))
            return np.asarray(spec.forward(self.values), dtype=np.float64)

        def backward(self, upstream):
            return tuple(np.asarray(g, dtype=np.float64) for g in
                         spec.backward(function, _copy(self.values), upstream))

    tensors = [mc.tensor(np.asarray(values[name], dtype=np.float64), requires_grad=True)
               for name in spec.wrt]
    try:
        result = gradcheck(lambda *inputs: StudentBackward.apply(*inputs), tensors,
                           rtol=1e-5, seed=1, max_elements=40)
    except NotImplementedError:
        raise _NotImplemented from None
    except Exception as error:  # noqa: BLE001
        report.add(Finding("gradient check", False, [f"gradient check: your backward raised "
                                                     f"{type(error).__name__}: {error}"]))
        return
    report.lines.append(f"  gradient check of {part.function} ({case.label}): float64 central "
                        "differences of the reference forward pass, random upstream gradient")
    for check in result.inputs:
        name = spec.wrt[check.index]
        if check.passed:
            report.add(Finding(name, True, [f"d{name}: ok (relative error "
                                            f"{check.max_rel_error:.1e} over {check.checked} "
                                            "elements)"]))
        else:
            where, numeric, analytic, rel = check.worst[0]
            report.add(Finding(name, False, [
                f"d{name}: WRONG, relative error {check.max_rel_error:.2e} against central "
                f"differences", f"  at {where}: yours {analytic:.10g}, numeric {numeric:.10g}"]))


def run(exercise, namespace, seed=0):
    """Check the functions found in ``namespace`` (a dict or a module) for ``exercise`` (an
    Exercise); returns a Report."""
    if not isinstance(namespace, dict):
        namespace = vars(namespace)
    report = Report(exercise.name)
    cases = exercise.cases(np.random.default_rng(seed))
    for part in exercise.parts:
        function = namespace.get(part.function)
        report.lines.append(f"{part.function}:")
        if not callable(function):
            report.lines.append(f"  no function named {part.function} in your file")
            report.failures += 1
            continue
        try:
            _check_part(report, part, function, cases)
        except _NotImplemented:
            report.lines.append("  not implemented yet (it raises NotImplementedError)")
            report.not_implemented.append(part.function)
    summary = f"{report.checks - report.failures} of {report.checks} checks passed"
    if report.not_implemented:
        summary += f"; not implemented yet: {', '.join(report.not_implemented)}"
    elif report.passed:
        summary += " (relative tolerance 1e-7 on outputs, 1e-5 in the gradient check)"
    report.lines.append(f"{'PASSED' if report.passed else 'FAILED'}: {exercise.name}, {summary}")
    return report


def _check_part(report, part, function, cases):
    for number, case in enumerate(cases, 1):
        expected = part.reference(case.values)
        result, error = _call(function, part.prepare(case.values))
        header = f"  case {number} ({case.label}):"
        if error is not None:
            report.lines.append(f"{header} {error}")
            report.checks += 1
            report.failures += 1
            continue
        try:
            got = part.unpack(result)
        except (TypeError, ValueError) as problem:
            report.lines.append(f"{header} {problem}")
            report.checks += 1
            report.failures += 1
            continue
        findings = [_compare(name, got[name], expected[name]) for name in expected]
        if all(finding.passed for finding in findings):
            names = ", ".join(f.output for f in findings) if len(findings) <= 3 \
                else f"all {len(findings)} outputs"
            report.lines.append(f"{header} {names} ok")
            report.checks += len(findings)
            continue
        report.lines.append(header)
        for finding in findings:
            if not finding.passed:
                for mistake in part.mistakes:
                    if mistake.output == finding.output and _safe_test(mistake, case.values,
                                                                       expected, got):
                        finding.lines.append(f"  hint: {mistake.hint}")
                _shorten_repeated_hints(report, finding)
            report.add(finding)
    if part.gradient is not None:
        _gradient_check(report, part, function, cases[-1])


def _shorten_repeated_hints(report, finding):
    """Record the finding's hints; one shown in an earlier case is cut to its first clause."""
    for index, line in enumerate(finding.lines):
        if line.startswith("  hint: "):
            hint = line[len("  hint: "):]
            if hint in report.hints:
                finding.lines[index] = f"  hint: as above ({hint.split(':')[0]})"
            else:
                report.hints.append(hint)


def _safe_test(mistake, values, expected, got):
    try:
        return bool(mistake.test(values, expected, got))
    except (ValueError, TypeError, IndexError):   # shapes that do not fit this mistake
        return False


# ----- entry points ------------------------------------------------------------------------

def load_file(path):
    """Import a student's exercise file as a module; while it loads, its folder comes first on
    the import path, so it can import the student's other exercises (``from im2col import
    im2col``)."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not an exercise file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"minicnn_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def exercise_of(module_or_path, namespace):
    """The exercise a file is for: its ``EXERCISE`` constant, else its file name."""
    name = namespace.get("EXERCISE")
    if name is None:
        name = os.path.splitext(os.path.basename(module_or_path))[0]
    return name
