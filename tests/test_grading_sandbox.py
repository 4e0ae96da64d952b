"""The sandboxed grader survives hostile submissions: valid results, only affected tests lose points.

Each case grades a probe (tests/fixtures/probe: 3 graded tests, numpy only) with a submission made
from tests/fixtures/base_objectives.py plus a hostile override (tests/fixtures/hostile/<case>.py).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO
from mtl_tf.grading import sandbox

FIXTURES = os.path.join(REPO, "tests", "fixtures")
PROBE = os.path.join(FIXTURES, "probe")
SUM, DOMINATES, HIDDEN, CHECKED = "test_sum", "test_dominates", "test_dominates_hidden", "test_sum_checked"
SUMS = {SUM, CHECKED}  # the unconverted and the converted test of sum_objective
EVERYTHING = {SUM, DOMINATES, HIDDEN, CHECKED}
MAX_SCORE = 6.0
# case -> the probe tests it must fail (every other probe test must pass)
CASES = {
    "base": set(),
    "raise_import": EVERYTHING,
    "raise_function": SUMS,
    "wrong_shape": SUMS,
    "nan": SUMS,
    "infinite_loop": SUMS,
    "sleep_ignoring_alarm": SUMS,
    "sys_exit": SUMS,
    "os_exit": SUMS,
    "pytest_exit": SUMS,
    "segfault": SUMS,
    "flood": SUMS,
    "writes_results": SUMS,
    "monkeypatch": EVERYTHING,
    "patch_class": SUMS,
    "lying_eq": SUMS,
    "ships_files": SUMS,
    "bad_chars": SUMS,
    "pipe_bomb": set(),
    "lingering_thread": set(),
    "setsid_escape": set(),
    "imports_solutions": SUMS,
    "reads_hidden": SUMS,
    "exit_at_import": EVERYTHING,
    "resets_the_clock": SUMS,
    "forges_finish": SUMS,
}
MAX_SECONDS = 90  # every hostile grading ends in bounded time (TIMEOUT per test, a few restarts)
TIMEOUT = 6.0   # per test: generous, so that a loaded machine does not fail a well-behaved test


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
        start = time.time()
        results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT, time_limit=120)
        results["_seconds"] = time.time() - start
        return results

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(CASES, pool.map(one, CASES)))


def strict_json(results) -> str:
    """results.json as a strict reader sees it: UTF-8 (no unpaired surrogates), no NaN, no control
    characters but newline/tab/CR in its strings."""
    results = {k: v for k, v in results.items() if not k.startswith("_")}
    text = json.dumps(results, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # raises on an unpaired surrogate
    assert json.loads(text) == results  # strict=True: rejects control characters in strings
    for ch in map(chr, [c for c in range(32) if c not in (9, 10, 13)] + [127]):
        assert ch not in text, f"control character {ord(ch)} in results.json"
    return text


def by_test(results):
    return {t["name"].split(":")[0]: t for t in results["tests"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_submission_loses_only_the_affected_points(graded, case):
    check_case(graded[case], case)


AS_NOBODY = """
import json, sys, time
from mtl_tf.grading import sandbox
start = time.time()
results = sandbox.grade(sys.argv[1], root=sys.argv[2], timeout=float(sys.argv[3]), time_limit=120)
results["_seconds"] = time.time() - start
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def graded_as_nobody(tmp_path_factory):
    """{case: results} graded as on Gradescope: root, a Python 'nobody' can read, the child as 'nobody'
    (bubblewrap off, so that the unprivileged user alone has to hold)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    python = _world_readable_python_with_tensorflow()
    if python is None:
        pytest.skip("no Python with TensorFlow that 'nobody' can read (see test_as_root_with_setup_sh_python_...)")
    base = tempfile.mkdtemp(prefix="mtl-grade-nobody-")
    os.chmod(base, 0o755)

    def one(case):
        submission = make_submission(case, os.path.join(base, case))
        done = subprocess.run([python, "-c", AS_NOBODY, submission, PROBE, str(TIMEOUT)], cwd=REPO,
                              capture_output=True, text=True, timeout=300, env=dict(os.environ, MTL_GRADE_BWRAP="0"))
        line = [l for l in done.stdout.splitlines() if l.startswith("RESULTS ")]
        assert line, done.stdout[-2000:] + done.stderr[-2000:]
        return json.loads(line[-1][len("RESULTS "):])

    try:
        with ThreadPoolExecutor(4) as pool:
            yield dict(zip(CASES, pool.map(one, CASES)))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_submission_as_nobody_loses_only_the_affected_points(graded_as_nobody, case):
    check_case(graded_as_nobody[case], case)


def test_as_nobody_a_setsid_escapee_does_not_outlive_its_grading(graded_as_nobody):
    assert graded_as_nobody["setsid_escape"]["score"] == MAX_SCORE
    deadline = time.time() + 5
    while _processes_with("297.31415") and time.time() < deadline:
        time.sleep(0.1)
    assert not _processes_with("297.31415"), "the submission's `sleep 297.31415` survived the grading"


def check_case(results, case):
    strict_json(results)
    assert results["_seconds"] < MAX_SECONDS, f"{case}: grading took {results['_seconds']:.0f} s"
    assert "grading_error" not in results.get("extra_data", {}), f"{case}: {results['extra_data']}"
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
    ("bad_chars", "lone"),
    ("imports_solutions", "cannot be imported"),
    ("exit_at_import", "ended while this test was running"),
    ("resets_the_clock", "Time limit"),
])
def test_failure_output_says_what_happened(graded, case, words):
    output = by_test(graded[case])[SUM]["output"]
    assert words.lower() in output.lower(), f"{case}: expected {words!r} in the output:\n{output[:2000]}"


def test_hidden_tests_are_after_published_and_numbered(graded):
    tests = by_test(graded["base"])
    assert tests[HIDDEN]["visibility"] == "after_published" and "hidden" in tests[HIDDEN]["tags"]
    assert tests[SUM]["visibility"] == "visible"
    assert [t["number"] for t in graded["base"]["tests"]] == ["1.1", "1.2", "1.3", "1.4"]


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


def test_hidden_tests_strings_never_reach_the_public_output(graded):
    """Hidden tests run in a child of their own: a public test's code cannot reach their source,
    constants or messages to print them into its failure message."""
    results = graded["reads_hidden"]
    public = by_test(results)[SUM]["output"] + results["output"]
    assert "LEAK" in public, public[:2000]
    for secret in ("is worse than", "does not dominate", "test_probe_hidden", "dominates_hidden"):
        assert secret not in public, f"{secret!r} leaked into the public output:\n{public[:3000]}"


def test_forged_records_plugins_and_patches_earn_nothing_on_converted_tests(tmp_path):
    """A submission that signs its own 'passed' records with the child's key, registers a pytest plugin
    and patches numpy/pytest comparisons: the converted tests (the parent checks the values sent)
    still score 0. (Unconverted tests can still be forged this way: see docs/GRADING.md.)"""
    results = sandbox.grade(make_submission("forges_records", str(tmp_path / "s")), root=PROBE, timeout=TIMEOUT)
    strict_json(results)
    tests = by_test(results)
    assert set(tests) == EVERYTHING and results["max_score"] == MAX_SCORE, results["output"]
    for name in (CHECKED, HIDDEN):
        assert tests[name]["score"] == 0 and tests[name]["status"] == "failed", tests[name]


def test_converted_tests_ship_to_the_child_without_their_checks():
    from mtl_tf.grading import checked
    with open(os.path.join(PROBE, "tests", "hidden", "test_probe_hidden.py")) as f:
        source = f.read()
    stripped = checked.strip_checks(source)
    assert "is worse than" in source and "is worse than" not in stripped
    assert "def compute_dominates_hidden" in stripped and "A point does not dominate" in stripped


def _escapees_are_caught():
    """bubblewrap (its PID namespace ends with the child) or an unprivileged child user (all its
    processes are killed) is there to catch a process that left the child's session."""
    if sandbox.bubblewrap() is not None:
        return True
    return os.geteuid() == 0 and all(sandbox._readable_by_others(p) for p in sandbox.python_paths_for_nobody())


def _processes_with(marker):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_setsid_escapee_does_not_outlive_its_grading(graded):
    if not _escapees_are_caught():
        pytest.skip("neither bubblewrap nor an unprivileged user is available here to catch setsid escapees "
                    "(apt-get install bubblewrap)")
    assert graded["setsid_escape"]["score"] == MAX_SCORE
    deadline = time.time() + 5
    while _processes_with("297.31415") and time.time() < deadline:
        time.sleep(0.1)
    assert not _processes_with("297.31415"), "the submission's `sleep 297.31415` survived the grading"


SIGNALS_EVERYONE = """

import os as _os
import signal as _signal


def sum_objective(losses, present):
    for pid in [int(p) for p in _os.listdir("/proc") if p.isdigit()] + [_os.getppid()]:
        if pid != _os.getpid():
            for sig in (_signal.SIGSTOP, _signal.SIGTERM, _signal.SIGKILL):
                try:
                    _os.kill(pid, sig)
                except OSError:
                    pass
    return float(sum(l for l, p in zip(losses, present) if p))
"""


def test_the_child_cannot_stop_or_kill_the_grader(tmp_path):
    """Every process the child can see gets SIGSTOP, SIGTERM, SIGKILL: the grader is not among them."""
    if sandbox.bubblewrap() is None:
        pytest.skip("only bubblewrap's PID namespace hides the grader from a child of the same user "
                    "(apt-get install bubblewrap)")
    submission = make_submission("base", str(tmp_path / "s"))
    with open(os.path.join(submission, "homework", "objectives.py"), "a") as f:
        f.write(SIGNALS_EVERYONE)
    start = time.time()
    results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT)
    assert time.time() - start < MAX_SECONDS
    strict_json(results)
    assert results["score"] == results["max_score"] == MAX_SCORE, results["output"]
    assert "grading_error" not in results.get("extra_data", {}), results["output"]


def _special_file(path, kind):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, 0o644 | __import__("stat").S_IFCHR, os.makedev(1, 5))  # like /dev/zero
    elif kind == "link_to_fifo":
        os.mkfifo(str(path) + ".fifo")
        os.symlink(str(path) + ".fifo", path)


@pytest.mark.parametrize("kind", ["fifo", "device", "link_to_fifo"])
@pytest.mark.parametrize("where", ["homework", "top"])
def test_special_files_in_a_submission_are_refused_before_anything_opens_them(tmp_path, kind, where):
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    submission = tmp_path / "s"
    folder = submission / "homework" if where == "homework" else submission
    folder.mkdir(parents=True)
    _special_file(folder / "objectives.py", kind)
    start = time.time()
    results = sandbox.grade(str(submission), root=PROBE, timeout=TIMEOUT, select=["tests/test_probe.py::test_sum"])
    assert time.time() - start < MAX_SECONDS
    assert results["score"] == 0 and "not found in the submission" in results["output"], results["output"]
    assert "not implemented yet" in by_test(results)[SUM]["output"]


def test_a_grading_in_which_no_test_ran_fails_loudly_with_its_reason(tmp_path):
    """Not 0/0 and exit 0: mtl-grade exits non-zero, results.json says why."""
    root = tmp_path / "root"
    shutil.copytree(PROBE, root)
    (root / "tests" / "conftest.py").write_text("raise RuntimeError('the grader conftest is broken')\n")
    results_path = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "mtl_tf.grading.grade", f"--root={root}",
                           f"--submission={make_submission('base', str(tmp_path / 's'))}",
                           f"--results={results_path}", "--timeout=3"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(results_path.read_text())
    strict_json(data)
    assert data["extra_data"]["grading_error"], data
    assert "the grader conftest is broken" in data["output"], data["output"]
    assert "the grader conftest is broken" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_grader_stopped_midway_leaves_a_valid_results_json(tmp_path, sig):
    """SIGTERM: results.json says the grading was stopped; SIGKILL: the provisional one is there, valid."""
    import signal
    results_path = tmp_path / "results.json"
    proc = subprocess.Popen([sys.executable, "-m", "mtl_tf.grading.grade", f"--root={PROBE}",
                             f"--submission={make_submission('infinite_loop', str(tmp_path / 's'))}",
                             f"--results={results_path}", "--timeout=60"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not results_path.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(3)  # inside the grading now
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    data = json.loads(results_path.read_text())
    strict_json(data)
    assert data["extra_data"]["grading_error"] and data["score"] == 0, data
    if sig == "SIGTERM":
        assert proc.returncode == 1 and "stopped (SIGTERM)" in data["output"], (proc.returncode, data["output"])
    else:
        assert "did not finish" in data["output"], data["output"]


def test_restarts_are_capped_for_a_submission_that_exits_at_every_import(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(PROBE, root)
    many = "".join(f"\n\n@pytest.mark.points(1)\ndef test_more_{i}():\n    objectives().sum_objective([1.0], [True])\n"
                   for i in range(12))
    (root / "tests" / "test_many.py").write_text("import pytest\n\nfrom mtl_tf import impl\n\n\n"
                                                "def objectives():\n    return impl.module('objectives')\n" + many)
    start = time.time()
    results = sandbox.grade(make_submission("exit_at_import", str(tmp_path / "s")), root=str(root),
                            timeout=TIMEOUT, include_hidden=False)
    assert time.time() - start < MAX_SECONDS
    outputs = [t["output"] for t in results["tests"]]
    assert results["score"] == 0 and len(outputs) == 12 + 3
    capped = [o for o in outputs if "the most the grader restarts it" in o]
    assert len(capped) >= 12 + 3 - sandbox.MAX_CHILDREN, outputs  # dominates' two cases are one test


def test_the_whole_run_limit_is_under_gradescopes_ten_minutes():
    assert sandbox.DEFAULT_TIME_LIMIT + 30 < 600


def test_a_submission_cannot_change_what_the_next_grading_runs(tmp_path):
    """A submission that rewrites the grader's source folder (it knows the path: grading is local)
    changes neither this grading nor the next one (the untouched starter still scores 0)."""
    if not _escapees_are_caught():
        pytest.skip("the child can write the grader's files here: no bubblewrap, no unprivileged user "
                    "(apt-get install bubblewrap)")
    root = tmp_path / "root"
    shutil.copytree(PROBE, root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    submission = make_submission("base", str(tmp_path / "s"))
    with open(os.path.join(submission, "homework", "objectives.py"), "a") as f:
        f.write(f"""

import os as _os


def sum_objective(losses, present):
    for dirpath, _, names in _os.walk({str(root)!r}):
        for name in names:
            path = _os.path.join(dirpath, name)
            try:
                if name.startswith("test_"):
                    open(path, "w").write("import pytest\\n\\n@pytest.mark.points(1)\\ndef test_sum():\\n    pass\\n")
                elif name == "objectives.py":
                    open(path, "w").write("def sum_objective(l, p):\\n    return 3.0\\n\\n"
                                          "def dominates(a, b):\\n    return a != b and all(x <= y for x, y in zip(a, b))\\n")
            except OSError:
                pass
    return 0.0
""")
    first = sandbox.grade(submission, root=str(root), timeout=TIMEOUT)
    assert by_test(first)[SUM]["score"] == 0 and first["max_score"] == MAX_SCORE, first["output"]
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before, "the submission rewrote the grader's files"
    starter = sandbox.grade(None, root=str(root), timeout=TIMEOUT)
    assert starter["score"] == 0 and starter["max_score"] == MAX_SCORE, starter["output"]


BWRAP_PROBE = """

def sum_objective(losses, present):
    import json, os, socket
    checks = {}
    try:
        open(GRADER_FILE, "a").close()
        checks["grader_source"] = "writable"
    except OSError:
        checks["grader_source"] = "denied"
    checks["grader_source_visible"] = os.path.exists(GRADER_FILE)
    checks["solutions_visible"] = os.path.exists(SOLUTIONS_FILE)
    checks["tmp"] = sorted(n for n in os.listdir("/tmp") if os.listdir(os.path.join("/tmp", n)))  # (masks are empty)
    checks["cwd_in_tmp"] = os.path.basename(os.getcwd())
    checks["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        checks["network"] = "up"
    except OSError:
        checks["network"] = "down"
    raise AssertionError("CHECKS " + json.dumps(checks) + " END")
"""


def test_with_bubblewrap_student_code_sees_a_read_only_private_world(tmp_path):
    if sandbox.bubblewrap() is None:
        pytest.skip("bubblewrap (bwrap) is not installed or cannot create namespaces here (apt-get install bubblewrap)")
    submission = make_submission("base", str(tmp_path / "s"))
    path = os.path.join(submission, "homework", "objectives.py")
    with open(path, "a") as f:
        f.write(f"GRADER_FILE = {os.path.join(PROBE, 'tests', 'test_probe.py')!r}\n"
                f"SOLUTIONS_FILE = {os.path.join(REPO, 'solutions', 'objectives.py')!r}\n" + BWRAP_PROBE)
    results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT, select=["tests/test_probe.py::test_sum"])
    output = by_test(results)[SUM]["output"]
    checks = json.loads(output.split("CHECKS ", 1)[1].split(" END", 1)[0])
    assert checks["grader_source"] == "denied" and not checks["grader_source_visible"], checks
    assert not checks["solutions_visible"], checks
    assert checks["network"] == "down", checks
    python_in_tmp = {d.split("/")[2] for d in sandbox._python_dirs() if d.startswith("/tmp/")}
    assert set(checks["tmp"]) - python_in_tmp == {checks["cwd_in_tmp"]}, checks  # a private /tmp: its workspace
    # (and, read-only, the Python installation when it lives in /tmp)
    assert checks["processes"] < 10, checks  # its own PID namespace: not the grader's processes


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
    try:  # (with bubblewrap the out folder in /tmp is out of reach: then nothing is written)
        open(os.path.join(OUT, "checks.json"), "w").write(json.dumps(checks))
    except OSError:
        pass
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
        results = sandbox.grade(submission, root=PROBE, timeout=TIMEOUT, as_user="nobody", isolate=False)
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
def test_as_root_a_python_nobody_cannot_read_is_refused_on_gradescope_only(tmp_path):
    """Outside /autograder (a student's own laptop) grading goes on without a note about 'nobody'; in
    Gradescope's layout (strict) without bubblewrap it refuses in one line; with bubblewrap it grades."""
    paths = sandbox.python_paths_for_nobody()
    assert any(p.endswith("tensorflow") for p in paths), f"TensorFlow's folder is not checked: {paths}"
    base = make_submission("base", str(tmp_path / "s"))
    results = sandbox.grade(base, root=PROBE, timeout=TIMEOUT)
    assert "nobody" not in results["output"] and results["score"] == MAX_SCORE, results["output"]
    if all(sandbox._readable_by_others(p) for p in paths):
        return
    refused = sandbox.grade(base, root=PROBE, timeout=TIMEOUT, strict=True, isolate=False)
    assert refused["tests"] == [] and refused["extra_data"]["grading_error"], refused
    assert len(refused["output"].splitlines()) == 1 and "cannot read" in refused["output"], refused["output"]
    if sandbox.bubblewrap() is not None:
        isolated = sandbox.grade(base, root=PROBE, timeout=TIMEOUT, strict=True)
        assert isolated["score"] == MAX_SCORE and "grading_error" not in isolated.get("extra_data", {}), isolated


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
@pytest.mark.parametrize("bwrap", ["0", "1"])
def test_as_root_with_setup_sh_python_tensorflow_student_code_runs_as_nobody(tmp_path, bwrap):
    """run as Gradescope does (root, the world-readable venv): student code imports and runs TensorFlow as
    'nobody', cannot read the hidden tests or write results.json; the real graded tests still pass. With
    bubblewrap too (its private /tmp hides the probe's out folder: then only the scores are checked)."""
    if bwrap == "1" and sandbox.bubblewrap() is None:
        pytest.skip("bubblewrap (bwrap) is not installed or cannot create namespaces here")
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
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MTL_GRADE_BWRAP=bwrap))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with open(results_path) as f:
            results = json.load(f)
        assert "nobody" not in results["output"], results["output"]
        if bwrap == "0":
            checks = read_checks(out)
            assert checks == {"uid": 65534, "tf_sum": 3.0, "hidden": "denied", "results": "denied"}, checks
        assert [t["score"] for t in results["tests"]] == [t["max_score"] for t in results["tests"]] \
            and len(results["tests"]) == 2, results
        assert not os.path.exists(os.path.join(results_dir, "results.json"))
