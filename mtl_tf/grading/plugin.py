"""pytest plugin: points for graded tests, the ``--impl`` choice, Gradescope ``results.json``.

Use in a conftest: ``pytest_plugins = ["mtl_tf.grading.plugin"]``. Then:

* ``@pytest.mark.points(n)`` marks a graded test worth n points (a parametrized test shares its
  n points between its cases: partial credit);
* ``@pytest.mark.visibility("visible")`` overrides the Gradescope visibility (tests under
  ``tests/hidden/`` default to ``after_published``, others to ``visible``);
* ``pytest --impl=homework`` grades the student package (default: auto);
* ``pytest --results=results.json`` writes Gradescope results for the graded tests (in this
  process: fine for a student's own check; the autograder uses ``mtl-grade``, which runs the
  tests in a sandboxed child process and writes results from the trusted parent).
"""

import json
import os
import time

import pytest

from mtl_tf import impl
from mtl_tf.grading import report

HIDDEN_VISIBILITY = "after_published"


def pytest_addoption(parser):
    group = parser.getgroup("mtl_tf grading")
    group.addoption("--impl", default=None, choices=impl.CHOICES,
                    help="implementation package to test: solutions, homework or auto")
    group.addoption("--results", default=None, help="write Gradescope results.json to this path")
    group.addoption("--hidden-visibility", default=HIDDEN_VISIBILITY, choices=report.VISIBILITIES,
                    help="Gradescope visibility of tests under tests/hidden/")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): a graded test worth n points")
    config.addinivalue_line("markers", "visibility(v): Gradescope visibility of this graded test")
    choice = config.getoption("--impl")
    if choice:
        impl.select(choice)
    config._mtl_grades = {"start": time.time(), "cases": {}}


def points(item):
    """The points of a graded item, or None for a framework test."""
    marker = item.get_closest_marker("points")
    if marker is None:
        return None
    return float(marker.args[0] if marker.args else marker.kwargs.get("n", 1))


def is_hidden(nodeid: str) -> bool:
    return "/hidden/" in "/" + nodeid.split("::")[0]


def case_info(item, hidden_visibility: str = HIDDEN_VISIBILITY) -> dict:
    """Metadata of one graded item: nodeid, display name, points, visibility, hidden."""
    obj = getattr(item, "obj", None)
    doc = ((obj.__doc__ or "").strip().splitlines() if obj is not None else []) or [""]
    base = getattr(item, "originalname", None) or item.name
    hidden = is_hidden(item.nodeid)
    marker = item.get_closest_marker("visibility")
    visibility = marker.args[0] if marker else (hidden_visibility if hidden else "visible")
    return {"nodeid": item.nodeid, "name": f"{base}: {doc[0]}" if doc[0] else base, "points": points(item),
            "visibility": visibility, "hidden": hidden}


def failure_text(report_, traceback: bool = True) -> str:
    """The student-facing message of a failed report: the assertion message, else the error and
    (unless ``traceback`` is False, e.g. for hidden tests whose source is secret) the traceback tail."""
    crash = getattr(getattr(report_, "longrepr", None), "reprcrash", None)
    text = crash.message if crash is not None else str(report_.longrepr)
    full = getattr(report_, "longreprtext", "") or ""
    if crash is not None and traceback and not text.startswith("AssertionError"):
        text += "\n\nTraceback (last lines):\n" + full[-1500:]
    return report.truncate(text)


def outcome_line(report_):
    """(failed, text) for one phase report of a graded test; text is '' when it passed."""
    if report_.failed:
        phase = "" if report_.when == "call" else f" (during {report_.when})"
        text = failure_text(report_, traceback=not is_hidden(report_.nodeid))
        return True, (f"FAILED{phase}: " + text).strip() + "\n"
    if report_.skipped and report_.when in ("setup", "call"):
        return True, "Skipped: no points.\n"
    return False, ""


def pytest_collection_modifyitems(session, config, items):
    cases = config._mtl_grades["cases"]
    for item in items:
        if points(item) is not None:
            cases[item.nodeid] = dict(case_info(item, config.getoption("--hidden-visibility")),
                                      passed=True, ran=False, output="")


_CONFIG_GRADES = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG_GRADES["grades"] = session.config._mtl_grades


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    grades = _CONFIG_GRADES.get("grades")
    if grades is None or report.nodeid not in grades["cases"]:
        return
    case = grades["cases"][report.nodeid]
    case["ran"] = True
    failed, text = outcome_line(report)
    if failed:
        case["passed"] = False
        case["output"] += text


def results(grades) -> dict:
    """The Gradescope results dict for the collected grades."""
    cases = [dict(c, passed=c["passed"] and c["ran"]) for c in grades["cases"].values()]
    return report.gradescope(cases, time.time() - grades["start"])


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--results")
    if not path:
        return
    data = results(session.config._mtl_grades)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    grades = config._mtl_grades
    if grades["cases"]:
        data = results(grades)
        terminalreporter.write_line(f"mtl_tf grading ({impl.package_name()}): score {data['score']:g}/"
                                    f"{data['max_score']:g}\n{data['output']}")
