"""pytest plugin: points for graded tests, the ``--impl`` choice, Gradescope ``results.json``.

Use in a conftest: ``pytest_plugins = ["mtl_tf.grading.plugin"]``. Then:

* ``@pytest.mark.points(n)`` marks a graded test worth n points (all or nothing);
* ``pytest --impl=homework`` grades the student package (default: auto);
* ``pytest --results=results.json`` writes Gradescope results for the graded tests:
  per test ``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``;
  top level ``score``, ``execution_time``, ``output``.
"""

import json
import os
import time

import pytest

from mtl_tf import impl

MAX_OUTPUT_CHARS = 4000


def pytest_addoption(parser):
    group = parser.getgroup("mtl_tf grading")
    group.addoption("--impl", default=None, choices=impl.CHOICES,
                    help="implementation package to test: solutions, homework or auto")
    group.addoption("--results", default=None, help="write Gradescope results.json to this path")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): a graded test worth n points")
    choice = config.getoption("--impl")
    if choice:
        impl.select(choice)
    config._mtl_grades = {"start": time.time(), "tests": {}, "order": []}


def _points(item):
    marker = item.get_closest_marker("points")
    if marker is None:
        return None
    value = marker.args[0] if marker.args else marker.kwargs.get("n", 1)
    return float(value)


def pytest_collection_modifyitems(session, config, items):
    grades = config._mtl_grades
    modules = []
    for item in items:
        pts = _points(item)
        if pts is None:
            continue
        module = item.nodeid.split("::")[0]
        if module not in modules:
            modules.append(module)
        doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines() if getattr(item, "obj", None) else []
        grades["tests"][item.nodeid] = {
            "name": f"{item.name}: {doc[0]}" if doc else item.name,
            "max_score": pts, "passed": True, "ran": False, "output": "",
            "module": module,
        }
        grades["order"].append(item.nodeid)
    counters = {}
    for nodeid in grades["order"]:
        m = modules.index(grades["tests"][nodeid]["module"]) + 1
        counters[m] = counters.get(m, 0) + 1
        grades["tests"][nodeid]["number"] = f"{m}.{counters[m]}"


def _failure_text(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    full = getattr(report, "longreprtext", "") or ""
    if crash is not None and not text.startswith("AssertionError"):
        text += "\n\nTraceback (last lines):\n" + full[-1500:]
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + "\n... (output truncated)"
    return text


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    grades = _CONFIG_GRADES.get("grades")
    if grades is None or report.nodeid not in grades["tests"]:
        return
    entry = grades["tests"][report.nodeid]
    entry["ran"] = True
    if report.failed:
        entry["passed"] = False
        phase = "" if report.when == "call" else f" (during {report.when})"
        entry["output"] += (f"FAILED{phase}: " + _failure_text(report)).strip() + "\n"
    elif report.skipped and report.when in ("setup", "call"):
        entry["passed"] = False
        entry["output"] += "Skipped: no points.\n"


_CONFIG_GRADES = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG_GRADES["grades"] = session.config._mtl_grades


def results(grades) -> dict:
    """The Gradescope results dict for the collected grades."""
    tests, total, possible = [], 0.0, 0.0
    for nodeid in grades["order"]:
        e = grades["tests"][nodeid]
        passed = e["passed"] and e["ran"]
        score = e["max_score"] if passed else 0.0
        total += score
        possible += e["max_score"]
        tests.append({"name": e["name"], "number": e["number"], "score": score, "max_score": e["max_score"],
                      "status": "passed" if passed else "failed",
                      "output": e["output"] or ("Passed." if passed else "Did not run.")})
    return {"score": total, "max_score": possible,
            "execution_time": round(time.time() - grades["start"], 2),
            "output": f"Graded tests: {sum(t['status'] == 'passed' for t in tests)}/{len(tests)} passed, "
                      f"score {total:g}/{possible:g}.",
            "stdout_visibility": "visible", "tests": tests}


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
    if grades["order"]:
        data = results(grades)
        terminalreporter.write_line(f"mtl_tf grading ({impl.package_name()}): {data['output']}")
