"""The trusted side of grading: run the graded tests on a submission in a child process.

``grade(submission, ...)`` builds a fresh workspace (the grader's tests, a ``homework/``
package made only of the expected file names taken from the submission, a pytest.ini of our
own), runs pytest there in a child process and turns the child's signed events into Gradescope
results. Whatever the submission does, the parent:

* enforces a per-test time limit by killing the child's process group (TensorFlow ops can
  ignore SIGALRM, so pytest-timeout alone is not enough), blames the running test, and starts a
  fresh child for the tests that had not finished (same after ``sys.exit``, ``os._exit``,
  ``pytest.exit``, a segfault, or a tampering exit);
* reads at most a bounded tail of the child's stdout/stderr and truncates every message;
* accepts only events carrying the run's HMAC (the key travels through a pipe the child closes
  before any student code runs), in sequence;
* scores a case only when it saw the case start, pass its call phase, and finish;
* writes results.json itself (the child never learns the path; as root, the child runs as an
  unprivileged user that can write neither it nor the grader's files).
"""

import hashlib
import hmac
import importlib.util
import json
import os
import pwd
import secrets
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

from mtl_tf.grading import child, report
from mtl_tf.grading.workspace import homework_files, lock_down, populate, source_root

DEFAULT_TIMEOUT = 60.0        # seconds per test (a test's own @pytest.mark.timeout may raise it)
DEFAULT_TIME_LIMIT = 1500.0   # seconds for the whole run
TAIL_BYTES = 16_000           # kept from the child's stdout/stderr for diagnostics
MAX_EVENT_LINE = 1_000_000
UNPRIVILEGED_USER = "nobody"

class _Tail:
    """Drains a stream in a thread, keeping only its last TAIL_BYTES."""

    def __init__(self, stream):
        self.data = b""
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for chunk in iter(lambda: stream.read(65536), b""):
            self.data = (self.data + chunk)[-TAIL_BYTES:]

    def text(self) -> str:
        self.thread.join(timeout=2)
        return self.data.decode(errors="replace")


class _Run:
    """The state of one grading run across (possibly several) child processes."""

    def __init__(self):
        self.cases: Optional[List[dict]] = None
        self.status: Dict[str, dict] = {}
        self.notes: List[str] = []
        self.last_output = ""

    def entry(self, nodeid):
        return self.status.setdefault(nodeid, {"started": False, "finished": False, "failed": False,
                                               "call_passed": False, "output": ""})

    def handle(self, event: dict, nodeids_allowed) -> None:
        kind = event.get("kind")
        if kind == "collected" and self.cases is None:
            self.cases = [c for c in event["cases"] if isinstance(c, dict) and "nodeid" in c]
        elif kind == "collect_error":
            self.notes.append(f"Could not collect {event.get('nodeid')}: {report.truncate(event.get('output', ''), 1500)}")
        elif kind in ("start", "report", "finish") and event.get("nodeid") in nodeids_allowed:
            e = self.entry(event["nodeid"])
            if kind == "start":
                e["started"] = True
            elif kind == "finish":
                e["finished"] = e["started"]
            else:
                if event.get("failed"):
                    e["failed"] = True
                    e["output"] += report.truncate(str(event.get("output", "")))
                if event.get("when") == "call" and event.get("passed") and not event.get("failed"):
                    e["call_passed"] = True


def _read_events(fd, buffer: bytearray, key: bytes, seq: List[int]):
    """Verified events decoded from what is available on ``fd``."""
    try:
        chunk = os.read(fd, 1 << 20)
    except BlockingIOError:
        return [], False
    if not chunk:
        return [], True
    buffer.extend(chunk)
    events = []
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        try:
            outer = json.loads(line)
            body = outer["body"]
            good = hmac.compare_digest(hmac.new(key, body.encode(), hashlib.sha256).hexdigest(), outer["mac"])
            event = json.loads(body) if good else None
        except (ValueError, KeyError, TypeError, AttributeError):
            event = None
        if isinstance(event, dict) and isinstance(event.get("seq"), int) and event["seq"] > seq[0]:
            seq[0] = event["seq"]
            events.append(event)
    if len(buffer) > MAX_EVENT_LINE:
        buffer.clear()
    return events, False


def _child_env(workspace: str, home: str, channel: str, user) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": os.path.join(home, "tmp"),
           "PYTHONPATH": workspace, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "MTL_IMPL": "homework", child.CHANNEL_ENV: channel,
           "KERAS_HOME": os.path.join(home, ".keras")}
    for name in ("LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS"):
        if name in os.environ:
            env[name] = os.environ[name]
    if user is not None:
        env[child.USER_ENV] = f"{user.pw_uid},{user.pw_gid}"
    return env


def _run_child(run: _Run, workspace: str, home: str, nodeids, user, timeout: float, deadline: float,
               hidden_visibility: str):
    """One child pytest over ``nodeids`` (None: every graded test). Returns (blamed nodeid, reason)."""
    key = secrets.token_bytes(32)
    key_r, key_w = os.pipe()
    ev_r, ev_w = os.pipe()
    os.write(key_w, key)
    os.close(key_w)
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "points", "--impl=homework", "-c",
           os.path.join(workspace, "pytest.ini"), "--rootdir", workspace, "--basetemp",
           os.path.join(home, "pytest"), "-o", f"timeout={max(1, int(timeout) - 5)}",
           f"--hidden-visibility={hidden_visibility}",
           *(nodeids if nodeids is not None else ["tests"])]
    proc = subprocess.Popen(cmd, cwd=workspace, env=_child_env(workspace, home, f"{key_r},{ev_w}", user),
                            pass_fds=(key_r, ev_w), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    os.close(key_r)
    os.close(ev_w)
    tail = _Tail(proc.stdout)
    os.set_blocking(ev_r, False)
    buffer, seq = bytearray(), [0]
    allowed = set(nodeids) if nodeids is not None else None
    current, started_at, blamed = None, time.time(), None
    try:
        while True:
            ready, _, _ = select.select([ev_r], [], [], 0.2)
            events, eof = _read_events(ev_r, buffer, key, seq) if ready else ([], False)
            for event in events:
                run.handle(event, allowed or set())
                kind = event.get("kind")
                if kind == "collected" and allowed is None and run.cases is not None:
                    allowed = {c["nodeid"] for c in run.cases}
                elif kind == "start" and allowed and event.get("nodeid") in allowed:
                    current, started_at = event["nodeid"], time.time()
                elif kind == "finish":
                    current = None
            now = time.time()
            if current is not None and now - started_at > _limit(run, current, timeout) + 5:
                blamed = (current, f"Time limit: the test ran for more than {_limit(run, current, timeout):g} s "
                                   "(an infinite loop or a very slow implementation?); it was stopped.")
                break
            if now > deadline:
                blamed = (current, "The whole grading run hit its time limit; this test was stopped.")
                break
            if eof or proc.poll() is not None:
                if not eof:
                    for event in _read_events(ev_r, buffer, key, seq)[0]:
                        run.handle(event, allowed or set())
                        if event.get("kind") == "finish":
                            current = None
                break
    finally:
        try:
            os.killpg(proc.pid, 9)  # also whatever the submission started in the child's session
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        os.close(ev_r)
    if blamed is None and current is not None:
        code = proc.returncode
        blamed = (current, f"The test process ended while this test was running (exit code {code}: sys.exit, "
                           "os._exit, pytest.exit or a crash in the submitted code?). Output tail:\n"
                  + report.truncate(tail.text()[-1500:], 1500))
    run.last_output = tail.text()
    return blamed


def _limit(run: _Run, nodeid: str, timeout: float) -> float:
    for c in run.cases or []:
        if c["nodeid"] == nodeid:
            return max(timeout, c.get("timeout") or 0.0)
    return timeout


def _readable_by_others(path: str) -> bool:
    """Every folder on the way to ``path`` is o+x and ``path`` itself o+r."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        if not os.stat(os.sep.join(parts[:i])).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def python_paths_for_nobody() -> List[str]:
    """What the unprivileged child must read to run the graded tests: this interpreter, its
    standard library, and the installed numpy, pytest, TensorFlow and Keras (``mtl_tf`` itself is
    copied into the workspace). Found without importing TensorFlow."""
    paths = [sys.executable, os.path.dirname(os.__file__)]
    for name in ("numpy", "pytest", "tensorflow", "keras"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            paths.append(os.path.dirname(spec.origin))
    return paths


def _unprivileged_user(as_user: Optional[str], notes: List[str]):
    """The user to run student code as (None: this process's user)."""
    if os.geteuid() != 0 or as_user == "":
        return None
    if as_user is None:
        unreadable = [p for p in python_paths_for_nobody() if not _readable_by_others(p)]
        if unreadable:
            notes.append(f"Note: graded as root: the Python installation is not readable by "
                         f"'{UNPRIVILEGED_USER}' ({unreadable[0]}); install it in a world-readable place, "
                         f"as setup.sh does (/autograder/venv from the system python3).")
            return None
    return pwd.getpwnam(as_user or UNPRIVILEGED_USER)


def grade(submission: Optional[str], root: Optional[str] = None, include_hidden: bool = True,
          timeout: float = DEFAULT_TIMEOUT, time_limit: float = DEFAULT_TIME_LIMIT,
          hidden_visibility: str = "after_published", as_user: Optional[str] = None,
          select: Optional[List[str]] = None) -> dict:
    """Grade ``submission`` (a folder with ``homework/*.py`` or the files themselves).

    Args:
      submission: the student's folder; None grades the untouched starter files.
      root: the grader's source folder (``mtl_tf/``, ``tests/``, ``homework/`` template).
      include_hidden: also run ``tests/hidden/``.
      timeout: per-test limit in seconds, enforced by killing the child.
      time_limit: limit for the whole run.
      hidden_visibility: Gradescope visibility of hidden tests.
      as_user: as root, the user that runs student code (default 'nobody'; '' keeps root).
      select: optional node ids (relative to the workspace, e.g. 'tests/test_x.py::test_y') to run
        instead of every graded test.
    Returns:
      the Gradescope results dict.
    """
    start = time.time()
    root = root or source_root()
    run = _Run()
    user = _unprivileged_user(as_user, run.notes)
    workspace = tempfile.mkdtemp(prefix="mtl-grade-")
    try:
        home = os.path.join(workspace, "home")
        os.makedirs(os.path.join(home, "tmp"))
        homework, notes = homework_files(submission, root)
        run.notes += notes
        deadline = start + time_limit
        nodeids = list(select) if select else None
        blamed_reasons: Dict[str, str] = {}
        for _ in range(200):
            populate(workspace, homework, root, include_hidden)
            if user is not None:
                lock_down(workspace, home, user)
            blamed = _run_child(run, workspace, home, nodeids, user, timeout, deadline, hidden_visibility)
            if run.cases is None:
                run.notes.append("The tests could not start:\n" + report.truncate(run.last_output[-3000:], 3000))
                break
            if blamed and blamed[0]:
                blamed_reasons[blamed[0]] = blamed[1]
            remaining = [c["nodeid"] for c in run.cases
                         if not run.entry(c["nodeid"])["finished"] and c["nodeid"] not in blamed_reasons]
            if not remaining or time.time() > deadline or remaining == nodeids:
                break  # done, out of time, or a child that makes no progress
            nodeids = remaining
        cases = []
        for c in run.cases or []:
            e = run.entry(c["nodeid"])
            passed = e["finished"] and e["call_passed"] and not e["failed"]
            output = e["output"] or blamed_reasons.get(c["nodeid"], "") or (
                "" if passed else "Did not run (the test process stopped before reaching it).")
            cases.append(dict(c, passed=passed, output=output))
        results = report.gradescope(cases, time.time() - start)
        if run.notes:
            results["output"] += "\n\n" + "\n".join(report.truncate(n, 2000) for n in run.notes)
        return results
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
