"""Graded tests whose verdict the trusted parent decides: a compute half and a check half.

A converted graded test is written as two functions side by side::

    def _sum_inputs():
        return np.array([1.0, np.inf, 2.0]), np.array([True, False, True])

    def compute_sum():                                # runs with the submission (the child)
        losses, present = _sum_inputs()
        return {"sum": impl.module("objectives").sum_objective(tf.constant(losses), tf.constant(present))}

    @graded(points=1, compute=compute_sum)
    def test_sum_ignores_absent_losses(got):          # runs in the trusted parent
        \"\"\"An absent task's loss must not reach the sum.\"\"\"
        value = checks.array(got["sum"], shape=(), kind="f", name="sum_objective(...)")
        checks.close(value, 3.0, msg="1 + 2 = 3: task 1 is absent")

``compute`` returns plain data (numbers, strings, lists, dicts of them, arrays or tensors). The
check half receives it as ``wire.decode`` rebuilt it: plain ``np.ndarray`` values of the dtype and
shape that were sent, nothing of the submission's. ``cases={"id": {kwargs}}`` parametrizes a test
(both halves receive the case's keyword arguments; points are shared, as for any parametrized test).

Where it runs:

* a plain ``pytest`` run (a student's own check, the instructor's suite): compute, encode and decode
  (the same data a grading would send), check, all in one process;
* ``mtl-grade``: the child plugin sets ``MODE = "child"``: the test runs compute only and leaves the
  encoded value in ``OUTBOX``; the plugin sends it to the parent, which loads the grader's own copy of
  the test module (``load``), decodes the value and runs the check half. Whatever the child reports
  about such a test (passed, failed, tampered) does not change its verdict, which depends only on
  the values it sent; the child's copy of a test module has the check halves' bodies removed
  (``strip_checks``), so it does not hold what they compare with.
"""

import ast
import functools
import re
import importlib.util
import inspect
import os
import sys
import traceback
from typing import Callable, Dict, Optional

import pytest

from mtl_tf.grading import wire

MODE = "local"                # "child" in the grading child: compute only
OUTBOX: Dict[str, object] = {}   # nodeid -> encoded values (child mode)
MARK = "_mtl_graded"          # attribute of a converted test function: its spec
CONVERTED = re.compile(r"^@(checked\.)?graded\(", re.MULTILINE)   # a module with converted tests


class Spec:
    def __init__(self, check: Callable, compute: Callable, points: float, cases: Optional[Dict[str, dict]]):
        self.check, self.compute, self.points, self.cases = check, compute, points, cases

    def kwargs(self, case_id: Optional[str]) -> dict:
        if self.cases is None:
            return {}
        return dict(self.cases[case_id])


def _nodeid(request) -> str:
    return request.node.nodeid


def graded(points: float, compute: Callable, cases: Optional[Dict[str, dict]] = None):
    """Decorator of a check half ``test_x(got, **case)``: makes the graded pytest test (see the module
    docstring)."""

    def wrap(check):
        spec = Spec(check, compute, float(points), dict(cases) if cases is not None else None)

        def run(request, case_id):
            kwargs = spec.kwargs(case_id)
            encoded = wire.encode(compute(**kwargs))
            if MODE == "child":
                OUTBOX[_nodeid(request)] = encoded
                return
            check(wire.decode(encoded), **kwargs)

        if cases is None:
            def test(request):
                run(request, None)
        else:
            def test(request, case):
                run(request, case)
            test = pytest.mark.parametrize("case", list(cases), ids=list(cases))(test)
        test = functools.wraps(check)(test)
        test.__signature__ = inspect.Signature(
            [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + ([inspect.Parameter("case", inspect.Parameter.POSITIONAL_OR_KEYWORD)] if cases is not None else []))
        del test.__wrapped__
        test = pytest.mark.points(points)(test)
        setattr(test, MARK, spec)
        return test

    return wrap


# ---- the parent's side -------------------------------------------------------------------------------

def load(path: str, tests_dir: str) -> Dict[str, Spec]:
    """{test function name: Spec} of the converted tests in the test module at ``path`` (the
    grader's own copy), imported under a private name with ``tests_dir`` first on sys.path (for its
    ``from conftest import ...``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # test modules import TensorFlow: keep the log quiet
    name = "_mtl_checks_" + os.path.relpath(path, tests_dir).replace(os.sep, "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, tests_dir)
    try:
        spec.loader.exec_module(module)
    finally:
        try:
            sys.path.remove(tests_dir)
        except ValueError:
            pass
    return {attr: getattr(value, MARK) for attr, value in vars(module).items() if hasattr(value, MARK)}


def verdict(spec: Spec, case_id: Optional[str], values, traceback_shown: bool = True):
    """(passed, message) of the check half on the encoded ``values`` the child sent."""
    try:
        got = wire.decode(values)
    except wire.WireError as e:
        return False, f"FAILED: the test's values could not be read: {e}"
    try:
        spec.check(got, **spec.kwargs(case_id))
    except AssertionError as e:
        return False, f"FAILED: {e}" if str(e) else "FAILED: an assertion of the check failed"
    except Exception as e:  # a check meeting data it did not expect (a wrong type, shape) fails the test
        text = f"FAILED: {type(e).__name__}: {e}"
        if traceback_shown:
            text += "\n" + "".join(traceback.format_exception(e)[-3:])
        return False, text
    return True, ""


def case_id_of(nodeid: str) -> Optional[str]:
    """'tests/x.py::test_y[case]' -> 'case' (None without parameters)."""
    tail = nodeid.split("::")[-1]
    return tail[tail.index("[") + 1:-1] if tail.endswith("]") and "[" in tail else None


def function_of(nodeid: str) -> str:
    return nodeid.split("::")[-1].split("[")[0]


def strip_checks(source: str) -> str:
    """``source`` with the body of every ``@graded(...)`` function replaced by its docstring and
    ``pass`` (what the child gets: the compute halves, not what the checks compare with)."""
    if not CONVERTED.search(source):
        return source
    tree = ast.parse(source)

    def is_graded(decorator):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(target, ast.Name) and target.id == "graded") or (
            isinstance(target, ast.Attribute) and target.attr == "graded")

    changed = False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(map(is_graded, node.decorator_list)):
            doc = ast.get_docstring(node, clean=False)
            node.body = ([ast.Expr(ast.Constant(doc))] if doc is not None else []) + [ast.Pass()]
            changed = True
    return ast.unparse(tree) + "\n" if changed else source
