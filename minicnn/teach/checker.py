"""The exercise checker: run a student's functions against minicnn's reference and say what is
wrong in words a student can act on.

For every case (small fixed shapes, then random ones: odd and rectangular sizes, non-square
kernels, stride > 1, padding, batch 1 and more) each function is called on fresh copies of the
inputs; its outputs are compared with the reference element by element, and its inputs with
what they were before the call (a function that writes into its input is wrong even when its
outputs are right). A wrong output is reported with its error, the first element that differs
(both values) and, when the wrong values are those of a mistake the exercise knows (forgot to
sum over the batch, transposed kernel, ...), a hint. Backward functions then go through a
float64 gradient check on every case: central differences of the reference forward pass
against the student's backward, for a random upstream gradient.

One tolerance rule, for outputs and gradients alike (``error``): the error of an element is
|yours - expected| / (|yours| + |expected|) (0 where both are 0), and every element must be
within the tolerance: 1e-7 for outputs (float64 against minicnn's float64 reference), 1e-5 in
the gradient check (fourth-order central differences with step 1e-5). There is no absolute
tolerance: a gradient element so small that the differences' rounding could reach the tolerance
is left out of the gradient check and counted as such (its value is compared with the
reference's exact gradient like every output).

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

OUTPUT_TOLERANCE = 1e-7
GRADIENT_TOLERANCE = 1e-5
GRADIENT_STEP = 1e-5
GRADIENT_ELEMENTS = 60      # elements per input of the gradient check (all of a smaller input)
RULE = ("an element's error is |yours - expected| / (|yours| + |expected|), 0 where both are 0 "
        "(subnormals, below 2.2e-308, count as 0); "
        f"every element within {OUTPUT_TOLERANCE:g} (outputs) or {GRADIENT_TOLERANCE:g} "
        f"(gradient check: fourth-order central differences with step {GRADIENT_STEP:g}, on "
        "the elements larger than their rounding can blur); no absolute tolerance")


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
    differentiated by central differences with respect to ``wrt`` (names in the case's values,
    or a function of the values that gives them), against ``backward(student_function, values,
    upstream)``, which returns one gradient per name in ``wrt``."""
    wrt: tuple
    forward: Callable
    backward: Callable


@dataclass
class Part:
    """One function of an exercise: it is called as ``function(**prepare(values))``, its result
    unpacked into named outputs by ``unpack`` and compared with ``reference(values)`` (a dict);
    its array arguments must come back unchanged. ``when(values)`` picks the cases it runs on
    (all by default); ``verify(values, got)`` adds Findings of its own (what a result must do
    rather than equal, such as a training accuracy)."""
    function: str
    reference: Callable
    prepare: Callable
    unpack: Callable
    mistakes: tuple = ()
    gradient: Gradient = None
    when: Callable = None
    verify: Callable = None


@dataclass
class Case:
    """One input of an exercise: ``values`` (name -> array or number) feeds every part;
    ``label`` names the case in the report."""
    label: str
    values: dict


@dataclass
class Exercise:
    """An exercise: its Parts, checked in order on the Cases that ``cases(rng)`` draws, within
    ``time_limit`` seconds (when run by ``minicnn check``); ``allowed`` names the minicnn
    modules the file may import (tools the exercise hands out, such as im2col)."""
    name: str
    parts: tuple
    cases: Callable            # rng -> list of Case
    time_limit: float = 60.0
    allowed: tuple = ()


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


# ----- the tolerance rule ------------------------------------------------------------------

def error(got, expected):
    """The element-wise error of the rule: |got - expected| / (|got| + |expected|), 0 where both
    are 0, inf where either is not finite (arrays of one shape, float64). Subnormal values
    (below 2.2e-308, where float64 keeps no relative precision) count as 0."""
    tiny = np.finfo(np.float64).tiny
    got = np.where(np.abs(got) < tiny, 0.0, got)
    expected = np.where(np.abs(expected) < tiny, 0.0, expected)
    with np.errstate(all="ignore"):
        difference = np.abs(got - expected)
        size = np.abs(got) + np.abs(expected)
        result = np.where(size > 0, difference / np.where(size > 0, size, 1), 0.0)
    return np.where(np.isfinite(got) & np.isfinite(expected), result, np.inf)


def close(a, b):
    """Whether a and b have one shape and every element is within the output tolerance."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool((error(a, b) <= OUTPUT_TOLERANCE).all())


def same_as(output, hint, wrong):
    """The mistake whose output is ``wrong(values)``."""
    return Mistake(output, hint, lambda values, expected, got: close(got[output], wrong(values)))


def scaled(output, hint, factor):
    """The mistake whose output is the right one times ``factor(values)``."""
    return Mistake(output, hint, lambda values, expected, got: close(
        got[output], np.asarray(expected[output]) * factor(values)))


def wrong_only_where(output, hint, where):
    """The mistake that is right everywhere except (somewhere) where ``where(values)`` is True:
    e.g. only at pixels that several windows share."""
    def test(values, expected, got):
        g, e = np.asarray(got[output], dtype=np.float64), np.asarray(expected[output])
        if g.shape != e.shape:
            return False
        bad = error(g, e) > OUTPUT_TOLERANCE
        return bool(bad.any()) and not bool((bad & ~where(values)).any())
    return Mistake(output, hint, test)


OFF_BY_ONE = ("off-by-one output size: the output has floor((H + 2*padding - dilation*(k - 1) "
              "- 1) / stride) + 1 rows, i.e. (H + 2*padding - k) // stride + 1 without dilation")
INTEGER_HINT = ("your output has an integer dtype, so every value was truncated when it was "
                "stored: make the array with a float dtype (np.zeros(shape) or "
                "np.zeros_like(x, dtype=float)), not from an integer array or shape tuple")


@dataclass
class Finding:
    """The comparison of one output in one case."""
    output: str
    passed: bool
    lines: list = field(default_factory=list)


def _compare(output, got, expected):
    expected = np.asarray(expected, dtype=np.float64)
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
    integer = got.dtype.kind in "biu" and not np.array_equal(expected, np.round(expected))
    got = got.astype(np.float64)
    errors = error(got, expected)
    bad = errors > OUTPUT_TOLERANCE
    worst = float(errors.max(initial=0.0))
    if not bad.any():
        return Finding(output, True, [f"{output}: ok (largest element error {worst:.1e})"])
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    lines = [f"{output}: WRONG, {int(bad.sum())} of {bad.size} elements differ (largest "
             f"element error {worst:.2e}, tolerance {OUTPUT_TOLERANCE:g})",
             f"  first difference at {first}: yours {got[first]:.10g}, expected "
             f"{expected[first]:.10g}"]
    if integer:
        lines.append(f"  hint: {INTEGER_HINT}")
    elif not np.isfinite(got).all():
        lines.append("  hint: your values overflowed to inf or NaN")
    return Finding(output, False, lines)


# ----- running an exercise -----------------------------------------------------------------

class _NotImplemented(Exception):
    pass


def _where(error_, function):
    """' (line L of FILE)': the deepest line of the student's own file in a traceback."""
    code = getattr(function, "__code__", None)
    frames = [frame for frame in traceback.extract_tb(error_.__traceback__)
              if code is not None and frame.filename == code.co_filename]
    return f" (line {frames[-1].lineno} of {os.path.basename(frames[-1].filename)})" \
        if frames else ""


def call(function, kwargs, student=None):
    """``function(**kwargs)``: (result, None) or (None, message). The caller passes fresh
    copies. sys.exit inside it is a failure of that call, not the end of the check. Error
    messages name the line of ``student`` (default ``function``) where it went wrong."""
    student = function if student is None else student
    try:
        with np.errstate(all="ignore"):      # an overflow is reported, with its hint, below
            return function(**kwargs), None
    except NotImplementedError:
        raise _NotImplemented from None
    except SystemExit as error_:
        return None, (f"called sys.exit({error_.code!r}){_where(error_, student)}: a graded "
                      "function must return its result, never end the program")
    except Exception as error_:  # noqa: BLE001  (a student's code may raise anything)
        return None, f"raised {type(error_).__name__}: {error_}{_where(error_, student)}"


def copy(value):
    """A deep copy of arrays in (nested) dicts, lists and tuples: each call gets fresh inputs."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(item, (np.ndarray, dict))
                                                for item in value):
        return type(value)(copy(item) for item in value)
    return value


def _changed_inputs(before, after):
    """The names of array arguments (or arrays inside dict arguments) that a call changed."""
    changed = []
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            if not np.array_equal(value, after[name], equal_nan=value.dtype.kind == "f"):
                changed.append(name)
        elif isinstance(value, dict):
            changed += [f"{name}[{key!r}]" for key in _changed_inputs(value, after[name])]
    return changed


@dataclass
class Check:
    """One graded check: ``name`` (function, case and output), ``passed`` and ``message``."""
    name: str
    passed: bool
    message: str


class Report:
    """The result of checking one exercise: ``lines`` (the teaching report), ``results`` (one
    Check each), ``passed``, ``checks`` and ``failures`` (counts), ``hints`` (those shown) and
    ``not_implemented``."""

    def __init__(self, name):
        self.name = name
        self.lines = []
        self.results = []
        self.hints = []
        self.not_implemented = []
        self.problem = None         # set when the checks could not run to the end

    @property
    def checks(self):
        return len(self.results)

    @property
    def failures(self):
        return sum(not check.passed for check in self.results)

    @property
    def passed(self):
        """At least one check ran, none failed, every function was implemented and the checks
        ran to the end."""
        return (self.checks > 0 and self.failures == 0 and not self.not_implemented
                and self.problem is None)

    def __bool__(self):
        return self.passed

    def __str__(self):
        return "\n".join(self.lines)

    def record(self, name, passed, lines, indent="    "):
        """One graded check: appended to ``results`` and its lines to the report."""
        self.results.append(Check(name, bool(passed), "\n".join(line.strip() for line in lines)))
        self.lines += [indent + line for line in lines]

    def fail(self, problem):
        """The checks could not go on (the process ended, a time limit): a failure of its own."""
        self.problem = problem
        self.record("the checks ran to the end", False, [problem], indent="")

    def summary(self):
        """The last line of the report."""
        summary = f"{self.checks - self.failures} of {self.checks} checks passed"
        if self.not_implemented:
            summary += f"; not implemented yet: {', '.join(self.not_implemented)}"
        return f"{'PASSED' if self.passed else 'FAILED'}: {self.name}, {summary}"

    def to_dict(self):
        return {"exercise": self.name, "passed": self.passed, "lines": self.lines,
                "hints": self.hints, "not_implemented": self.not_implemented,
                "problem": self.problem,
                "checks": [{"name": c.name, "passed": c.passed, "message": c.message}
                           for c in self.results]}

    @classmethod
    def from_dict(cls, data):
        report = cls(data["exercise"])
        report.lines = list(data["lines"])
        report.hints = list(data["hints"])
        report.not_implemented = list(data["not_implemented"])
        report.problem = data["problem"]
        report.results = [Check(c["name"], c["passed"], c["message"]) for c in data["checks"]]
        return report


def _gradient_check(report, part, function, number, case, rng):
    """Central differences of the reference forward against the student's backward, for a
    random upstream gradient, on up to GRADIENT_ELEMENTS random elements of each input."""
    spec = part.gradient
    values = copy(case.values)
    wrt = spec.wrt(values) if callable(spec.wrt) else spec.wrt
    y = np.asarray(spec.forward(values), dtype=np.float64)
    upstream = rng.standard_normal(y.shape)
    result, problem = call(lambda **kw: spec.backward(function, kw, upstream), copy(values),
                           function)
    name = f"{part.function} gradient check, case {number}"
    header = f"  gradient check, case {number} ({case.label}):"
    if problem is None and (not isinstance(result, (tuple, list)) or len(result) != len(wrt)):
        problem = f"expected {len(wrt)} gradients ({', '.join(wrt)})"
    if problem is not None:
        report.lines.append(header)
        report.record(name, False, [f"your backward {problem}"])
        return
    report.lines.append(header)
    for wrt, analytic in zip(wrt, result):
        x = np.asarray(values[wrt], dtype=np.float64)
        analytic = np.asarray(analytic, dtype=np.float64) if analytic is not None else None
        if analytic is None or analytic.shape != x.shape:
            shape = None if analytic is None else analytic.shape
            report.record(f"{name}: d{wrt}", False,
                          [f"d{wrt}: shape {shape}, expected {x.shape}"])
            continue
        picked = rng.permutation(x.size)[:GRADIENT_ELEMENTS]
        numeric = np.array([_difference(spec, values, upstream, wrt, x, flat) for flat in picked])
        mine = analytic.reshape(-1)[picked]
        # below this size the differences' rounding (eps * sum|upstream * y| / h) could reach
        # the tolerance: such elements are not checked here (their values are, above)
        resolution = np.finfo(np.float64).eps * float(np.abs(upstream * y).sum()) \
            / GRADIENT_STEP / GRADIENT_TOLERANCE
        checked = (np.abs(mine) > resolution) | (np.abs(numeric) > resolution)
        errors = np.where(checked, error(mine, numeric), 0.0)
        skipped = "" if checked.all() else \
            f"; {int((~checked).sum())} elements below {resolution:.0e} not checked"
        worst = int(np.argmax(errors))
        where = tuple(int(i) for i in np.unravel_index(picked[worst], x.shape))
        if errors[worst] <= GRADIENT_TOLERANCE:
            report.record(f"{name}: d{wrt}", True, [
                f"d{wrt}: ok (largest element error {errors[worst]:.1e} over "
                f"{int(checked.sum())} elements{skipped})"])
        else:
            report.record(f"{name}: d{wrt}", False, [
                f"d{wrt}: WRONG, {int((errors > GRADIENT_TOLERANCE).sum())} of "
                f"{int(checked.sum())} elements checked differ from central differences "
                f"(largest element error {errors[worst]:.2e}, tolerance {GRADIENT_TOLERANCE:g})",
                f"  at {where}: yours {analytic[where]:.10g}, numeric {numeric[worst]:.10g}"])


def _difference(spec, values, upstream, wrt, x, flat):
    """d sum(upstream * forward) / d x[flat] by the fourth-order central difference
    (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h, whose error is O(h^4)."""
    index = np.unravel_index(flat, x.shape)
    totals = {}
    for step in (-2, -1, 1, 2):
        moved = x.copy()
        moved[index] += step * GRADIENT_STEP
        totals[step] = float(np.sum(upstream * np.asarray(
            spec.forward(dict(values, **{wrt: moved})), dtype=np.float64)))
    return (8 * (totals[1] - totals[-1]) - (totals[2] - totals[-2])) / (12 * GRADIENT_STEP)


def run(exercise, namespace, seed=0, progress=None):
    """Check the functions found in ``namespace`` (a dict or a module) for ``exercise`` (an
    Exercise); returns a Report. ``progress(part, case)`` is called before each call."""
    if not isinstance(namespace, dict):
        namespace = vars(namespace)
    report = Report(exercise.name)
    cases = exercise.cases(np.random.default_rng(seed))
    for part in exercise.parts:
        function = namespace.get(part.function)
        report.lines.append(f"{part.function}:")
        if not callable(function):
            report.record(part.function, False, [f"no function named {part.function} in your "
                                                 "file"], indent="  ")
            continue
        try:
            _check_part(report, part, function, cases, seed, progress or (lambda *_: None))
        except _NotImplemented:
            report.lines.append("  not implemented yet (it raises NotImplementedError)")
            report.not_implemented.append(part.function)
    report.lines.append(f"tolerance: {RULE}")
    report.lines.append(report.summary())
    return report


def _check_part(report, part, function, cases, seed, progress):
    cases = [(number, case) for number, case in enumerate(cases, 1)
             if part.when is None or part.when(case.values)]
    for number, case in cases:
        progress(part.function, number)
        expected = part.reference(copy(case.values))
        kwargs = part.prepare(copy(case.values))
        given = copy(kwargs)
        result, problem = call(function, given)
        header = f"  case {number} ({case.label}):"
        name = f"{part.function}, case {number} ({case.label})"
        if problem is None:
            try:
                got = part.unpack(result)
            except (TypeError, ValueError) as wrong:
                problem = str(wrong)
        if problem is not None:
            report.lines.append(header)
            report.record(name, False, [problem])
            continue
        findings = [_compare(output, got.get(output), expected[output]) for output in expected]
        if part.verify is not None:
            findings += part.verify(case.values, got)
        changed = [] if result is None else _changed_inputs(kwargs, given)
        if all(finding.passed for finding in findings) and not changed:
            shown = ", ".join(f.output for f in findings) if len(findings) <= 3 \
                else f"all {len(findings)} outputs"
            report.lines.append(f"{header} {shown} ok")
            for finding in findings:
                report.results.append(Check(f"{name}: {finding.output}", True,
                                            "; ".join(finding.lines)))
            continue
        report.lines.append(header)
        for finding in findings:
            if not finding.passed:
                for mistake in part.mistakes:
                    if mistake.output == finding.output and _safe_test(mistake, case.values,
                                                                       expected, got):
                        finding.lines.append(f"  hint: {mistake.hint}")
                _shorten_repeated_hints(report, finding)
            report.record(f"{name}: {finding.output}", finding.passed, finding.lines)
        for input_name in changed:
            finding = Finding(input_name, False, [
                f"input {input_name}: CHANGED by your function",
                f"  hint: your function changed its input {input_name}: work on a copy "
                "(x = x.copy(), or np.zeros_like(x) for a buffer); the caller still needs it"])
            _shorten_repeated_hints(report, finding)
            report.record(f"{name}: input {input_name} unchanged", False, finding.lines)
    if part.gradient is not None:
        rng = np.random.default_rng(seed + 1)
        for number, case in cases:
            progress(part.function + " gradient check", number)
            _gradient_check(report, part, function, number, case, rng)


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
        with np.errstate(all="ignore"):
            return bool(mistake.test(values, expected, got))
    except (ValueError, TypeError, IndexError, KeyError):   # shapes that do not fit this mistake
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
