"""The sandboxed grader survives hostile submissions: valid results, only affected tests lose points.

Each case grades a probe (tests/fixtures/probe: 3 graded tests, numpy only) with a submission made
from tests/fixtures/base_objectives.py plus a hostile override (tests/fixtures/hostile/<case>.py).
"""

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO
from mtl_tf.grading import sandbox

FIXTURES = os.path.join(REPO, "tests", "fixtures")
PROBE = os.path.join(FIXTURES, "probe")
SUM, DOMINATES, HIDDEN = "test_sum", "test_dominates", "test_dominates_hidden"
EVERYTHING = {SUM, DOMINATES, HIDDEN}
MAX_SCORE = 5.0
# case -> the probe tests it must fail (every other probe test must pass)
CASES = {
    "base": set(),
    "raise_import": EVERYTHING,
    "raise_function": {SUM},
    "wrong_shape": {SUM},
    "nan": {SUM},
    "infinite_loop": {SUM},
    "sleep_ignoring_alarm": {SUM},
    "sys_exit": {SUM},
    "os_exit": {SUM},
    "pytest_exit": {SUM},
    "segfault": {SUM},
    "flood": {SUM},
    "writes_results": {SUM},
    "monkeypatch": EVERYTHING,
    "patch_class": {SUM},
    "lying_eq": {SUM},
    "ships_files": {SUM},
}
TIMEOUT = 3.0


def make_submission(case, folder):
    """The submission folder for ``case``: homework/objectives.py = base + override, plus extra files."""
    extra = os.path.join(FIXTURES, "hostile", case)
    if os.path.isdir(extra):
        shutil.copytree(extra, folder)
    os.makedirs(os.path.join(folder, "homework"), exist_ok=True)
    with open(os.path.join(FIXTURES, "base_objectives.py")) as f:
        text = f.read()
    override = os.path.join(FIXTURES, "hostile", case + ".py")
    if os.path.exists(override):
        with open(override) as f:
            text += "\n\n# --- hostile override ---\n" + f.read()
    with open(os.path.join(folder, "homework", "objectives.py"), "w") as f:
        f.write(text)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{case: results dict}, graded four at a time."""
    base = tmp_path_factory.mktemp("submissions")

    def one(case):
        submission = make_submission(case, str(base / case))
        return sandbox.grade(submission, root=PROBE, timeout=TIMEOUT, time_limit=120)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(CASES, pool.map(one, CASES)))


def by_test(results):
    return {t["name"].split(":")[0]: t for t in results["tests"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_submission_loses_only_the_affected_points(graded, case):
    results = graded[case]
    json.loads(json.dumps(results))  # serializable
    tests = by_test(results)
    assert set(tests) == EVERYTHING, f"{case}: graded tests {sorted(tests)}; output:\n{results['output']}"
    assert results["max_score"] == MAX_SCORE, f"{case}: the submission changed the maximum score"
    for name, t in tests.items():
        assert {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"} <= set(t)
        must_fail = name in CASES[case]
        assert (t["status"] == "failed") == must_fail, (
            f"{case}: {name} is {t['status']}, expected {'failed' if must_fail else 'passed'}:\n{t['output']}")
        assert t["score"] == (0 if must_fail else t["max_score"]), f"{case}: {name}: {t}"
        assert len(t["output"]) < 10_000, f"{case}: {name}: output not truncated ({len(t['output'])} chars)"
    expected = MAX_SCORE - sum(tests[n]["max_score"] for n in CASES[case])
    assert results["score"] == expected, f"{case}: score {results['score']}, expected {expected}"


@pytest.mark.parametrize("case, words", [
    ("raise_import", "this submission fails at import"),
    ("raise_function", "bug in sum_objective"),
    ("infinite_loop", "Timeout"),
    ("sleep_ignoring_alarm", "Time limit"),
    ("os_exit", "ended while this test was running"),
    ("segfault", "ended while this test was running"),
    ("monkeypatch", "Tampering"),
    ("patch_class", "Tampering"),
    ("lying_eq", "come from the submission"),
    ("flood", "output truncated"),
])
def test_failure_output_says_what_happened(graded, case, words):
    output = by_test(graded[case])[SUM]["output"]
    assert words.lower() in output.lower(), f"{case}: expected {words!r} in the output:\n{output[:2000]}"


def test_hidden_tests_are_after_published_and_numbered(graded):
    tests = by_test(graded["base"])
    assert tests[HIDDEN]["visibility"] == "after_published" and "hidden" in tests[HIDDEN]["tags"]
    assert tests[SUM]["visibility"] == "visible"
    assert [t["number"] for t in graded["base"]["tests"]] == ["1.1", "1.2", "1.3"]


def test_partial_credit_for_a_test_with_several_cases(tmp_path):
    submission = make_submission("base", str(tmp_path / "s"))
    path = os.path.join(submission, "homework", "objectives.py")
    with open(path, "a") as f:  # right on the first case, wrong on the second
        f.write("\n\ndef dominates(a, b):\n    return True\n")
    results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT,
                            select=["tests/test_probe.py::test_dominates"])
    t = by_test(results)[DOMINATES]
    assert t["score"] == 1.0 and t["max_score"] == 2.0 and t["status"] == "failed", t
    assert "1/2 cases passed" in t["output"]


def test_symlinked_homework_file_is_not_followed(tmp_path):
    submission = tmp_path / "s"
    (submission / "homework").mkdir(parents=True)
    os.symlink(os.path.join(PROBE, "tests", "hidden", "test_probe_hidden.py"),
               submission / "homework" / "objectives.py")
    results = sandbox.grade(str(submission), root=PROBE, timeout=TIMEOUT, select=["tests/test_probe.py::test_sum"])
    assert results["score"] == 0 and "not found in the submission" in results["output"]
    assert "not implemented yet" in by_test(results)[SUM]["output"]


NOBODY_PROBE = """

def sum_objective(losses, present):
    checks = {"uid": os.getuid()}
    hidden = os.path.join(os.getcwd(), "tests", "hidden", "test_probe_hidden.py")
    try:
        open(hidden).read()
        checks["hidden"] = "readable"
    except OSError:
        checks["hidden"] = "denied"
    try:
        open(os.path.join(RESULTS, "results.json"), "w").write("{}")
        checks["results"] = "writable"
    except OSError:
        checks["results"] = "denied"
    open(os.path.join(OUT, "checks.json"), "w").write(json.dumps(checks))
    return 3.0
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_as_root_student_code_runs_as_nobody_without_access_to_hidden_tests_or_results(tmp_path):
    shared = tempfile.mkdtemp(prefix="mtl-grade-test-")  # /tmp: reachable by nobody, unlike tmp_path
    try:
        os.chmod(shared, 0o755)
        results_dir, out = os.path.join(shared, "results"), os.path.join(shared, "out")
        os.makedirs(results_dir, mode=0o755)
        os.makedirs(out)
        os.chmod(out, 0o777)
        submission = make_submission("base", str(tmp_path / "s"))
        path = os.path.join(submission, "homework", "objectives.py")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(f"import json\nimport os\nRESULTS = {results_dir!r}\nOUT = {out!r}\n" + text + NOBODY_PROBE)
        results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT, as_user="nobody")
        with open(os.path.join(out, "checks.json")) as f:
            checks = json.load(f)
        assert checks == {"uid": 65534, "hidden": "denied", "results": "denied"}, checks
        assert results["score"] == MAX_SCORE, results["output"]
        assert not os.path.exists(os.path.join(results_dir, "results.json"))
    finally:
        shutil.rmtree(shared, ignore_errors=True)
