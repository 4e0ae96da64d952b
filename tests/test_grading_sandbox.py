"""The sandboxed grader survives hostile submissions: valid results, only affected tests lose points.

Each case grades a probe (tests/fixtures/probe: 3 graded tests, numpy only) with a submission made
from tests/fixtures/base_objectives.py plus a hostile override (tests/fixtures/hostile/<case>.py).
"""

import contextlib
import json
import os
import shutil
import subprocess
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


NOBODY_CHECKS = """

def _nobody_checks(hidden_name, **extra):
    checks = dict(uid=os.getuid(), **extra)
    try:
        open(os.path.join(os.getcwd(), "tests", "hidden", hidden_name)).read()
        checks["hidden"] = "readable"
    except OSError:
        checks["hidden"] = "denied"
    try:
        open(os.path.join(RESULTS, "results.json"), "w").write("{}")
        checks["results"] = "writable"
    except OSError:
        checks["results"] = "denied"
    open(os.path.join(OUT, "checks.json"), "w").write(json.dumps(checks))
"""

NOBODY_PROBE = NOBODY_CHECKS + """

def sum_objective(losses, present):
    _nobody_checks("test_probe_hidden.py")
    return 3.0
"""


@contextlib.contextmanager
def nobody_folders():
    """(results folder: root's, 0755; out folder: writable by all) in /tmp, reachable by nobody unlike tmp_path."""
    shared = tempfile.mkdtemp(prefix="mtl-grade-test-")
    try:
        os.chmod(shared, 0o755)
        results_dir, out = os.path.join(shared, "results"), os.path.join(shared, "out")
        os.makedirs(results_dir, mode=0o755)
        os.makedirs(out)
        os.chmod(out, 0o777)
        yield results_dir, out
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def write_probe(path, base_text, probe, results_dir, out):
    """``path`` = ``base_text`` + ``probe``, with the names the probe uses defined first."""
    with open(path, "w") as f:
        f.write(f"import json\nimport os\nRESULTS = {results_dir!r}\nOUT = {out!r}\n" + base_text + probe)


def read_checks(out):
    with open(os.path.join(out, "checks.json")) as f:
        return json.load(f)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_as_root_student_code_runs_as_nobody_without_access_to_hidden_tests_or_results(tmp_path):
    with nobody_folders() as (results_dir, out):
        submission = make_submission("base", str(tmp_path / "s"))
        path = os.path.join(submission, "homework", "objectives.py")
        with open(path) as f:
            text = f.read()
        write_probe(path, text, NOBODY_PROBE, results_dir, out)
        results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT, as_user="nobody")
        assert read_checks(out) == {"uid": 65534, "hidden": "denied", "results": "denied"}, read_checks(out)
        assert results["score"] == MAX_SCORE, results["output"]
        assert not os.path.exists(os.path.join(results_dir, "results.json"))


# ---- the unprivileged user with TensorFlow ---------------------------------------------------------

# A Python whose installation 'nobody' can read, with TensorFlow: what setup.sh makes on Gradescope
# (/autograder/venv). Here: `AUTOGRADER_ROOT=/opt/mtl-autograder bash setup.sh` from a built bundle, or
# any such interpreter named by MTL_GRADE_TEST_PYTHON.
WORLD_READABLE_PYTHONS = (os.environ.get("MTL_GRADE_TEST_PYTHON", ""), "/autograder/venv/bin/python",
                          "/opt/mtl-autograder/venv/bin/python")

TF_PROBE = NOBODY_CHECKS + """

_reference_sum_objective = sum_objective


def sum_objective(losses, present):
    import tensorflow as tf
    _nobody_checks("test_objectives_hidden.py", tf_sum=float(tf.reduce_sum(tf.constant([1.0, 2.0]))))
    return _reference_sum_objective(losses, present)
"""


def _python_paths(python):
    """What ``python`` needs 'nobody' to read (sandbox.python_paths_for_nobody, asked of it), or None."""
    try:
        done = subprocess.run([python, "-c", "import json; from mtl_tf.grading import sandbox; "
                               "print(json.dumps(sandbox.python_paths_for_nobody()))"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    except OSError:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else None


def _world_readable_python_with_tensorflow():
    for python in filter(None, WORLD_READABLE_PYTHONS):
        paths = _python_paths(python) if os.path.exists(python) else None
        if paths and any(p.endswith("tensorflow") for p in paths) and all(sandbox._readable_by_others(p)
                                                                          for p in paths):
            return python
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_as_root_a_python_nobody_cannot_read_grades_as_root_and_says_so(tmp_path):
    """The fallback is explicit: with this interpreter unreadable by 'nobody' the output says so."""
    paths = sandbox.python_paths_for_nobody()
    assert any(p.endswith("tensorflow") for p in paths), f"TensorFlow's folder is not checked: {paths}"
    if all(sandbox._readable_by_others(p) for p in paths):
        results = sandbox.grade(make_submission("base", str(tmp_path / "s")), root=PROBE, timeout=TIMEOUT)
        assert "graded as root" not in results["output"] and results["score"] == MAX_SCORE, results["output"]
        return
    results = sandbox.grade(make_submission("base", str(tmp_path / "s")), root=PROBE, timeout=TIMEOUT)
    assert "graded as root" in results["output"] and "not readable by 'nobody'" in results["output"], \
        results["output"]
    assert results["score"] == MAX_SCORE, results["output"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_as_root_with_setup_sh_python_tensorflow_student_code_runs_as_nobody(tmp_path):
    """run as Gradescope does (root, the world-readable venv): student code imports and runs TensorFlow as
    'nobody', cannot read the hidden tests or write results.json; the real graded tests still pass."""
    python = _world_readable_python_with_tensorflow()
    if python is None:
        pytest.skip("no Python with TensorFlow that 'nobody' can read (this machine's Python lives under /root): "
                    "build a bundle and run `AUTOGRADER_ROOT=/opt/mtl-autograder bash setup.sh` after unzipping it "
                    "into /opt/mtl-autograder/source, or set MTL_GRADE_TEST_PYTHON")
    with nobody_folders() as (results_dir, out):
        os.makedirs(tmp_path / "s" / "homework")
        with open(os.path.join(REPO, "solutions", "objectives.py")) as f:
            write_probe(tmp_path / "s" / "homework" / "objectives.py", f.read(), TF_PROBE, results_dir, out)
        results_path = os.path.join(os.path.dirname(out), "graded.json")
        done = subprocess.run([python, "-m", "mtl_tf.grading.grade", f"--root={REPO}",
                               f"--submission={tmp_path / 's'}", f"--results={results_path}",
                               "-k", "tests/test_objectives.py::test_sum_objective_adds_present_tasks_only",
                               "-k", "tests/hidden/test_objectives_hidden.py::"
                                     "test_sum_objective_ignores_non_finite_absent_losses"],
                              cwd=REPO, capture_output=True, text=True, timeout=400,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with open(results_path) as f:
            results = json.load(f)
        assert "graded as root" not in results["output"], results["output"]
        checks = read_checks(out)
        assert checks == {"uid": 65534, "tf_sum": 3.0, "hidden": "denied", "results": "denied"}, checks
        assert [t["score"] for t in results["tests"]] == [t["max_score"] for t in results["tests"]] \
            and len(results["tests"]) == 2, results
        assert not os.path.exists(os.path.join(results_dir, "results.json"))
