"""The trusted side of grading: run the graded tests on a submission in child processes.

``grade(submission, ...)`` takes one snapshot of the grader's files (tests, ``mtl_tf``), builds a
fresh workspace from it for every child (the grader's tests, a ``homework/`` package made only of
the expected file names taken from the submission, a pytest.ini of our own), runs pytest there in
a child process and turns the child's signed events into Gradescope results. Public and hidden
tests run in separate children (a public test's process never holds a hidden test). Whatever the
submission does, the parent:

* isolates the child: bubblewrap where it works (read-only view of the system, the grader's
  source folder and the reference solutions masked, a private /tmp, no network, its own PID
  namespace, no capabilities), an unprivileged user as root, rlimits everywhere;
* enforces a per-test time limit and the whole run's limit itself, by killing the child's process
  group (and, with bubblewrap, its whole PID namespace; as ``nobody`` without it, every process of
  that user), blames the running test, and starts a fresh child for the tests that had not
  finished (same after ``sys.exit``, ``os._exit``, ``pytest.exit``, a segfault, a tampering exit),
  at most ``MAX_CHILDREN`` times per part;
* reads the event pipe in bounded time and memory (long lines dropped, no recursion limit hit),
  keeps a bounded tail of the child's output, and bounds every string it copies;
* accepts only events carrying the run's HMAC, in sequence; scores a case only when it saw the
  case start, pass its call phase, and finish;
* reports a run in which no test ran as an error with its reason (``results["extra_data"]``).
"""

import hashlib
import hmac
import importlib.util
import json
import math
import os
import pwd
import resource
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

from mtl_tf.grading import checked, child, report
from mtl_tf.grading.plugin import is_hidden
from mtl_tf.grading.workspace import grader_snapshot, homework_files, lock_down, populate, source_root

DEFAULT_TIMEOUT = 60.0        # seconds per test (a test's own @pytest.mark.timeout may raise it)
DEFAULT_TIME_LIMIT = 540.0    # seconds for the whole run: under Gradescope's 10-minute timeout
MAX_CHILDREN = 8              # child processes per part (public, hidden): restarts are capped
TAIL_BYTES = 16_000           # kept from the child's stdout/stderr for diagnostics
MAX_EVENT_LINE = 8_000_000    # a longer event line is dropped unread (values of converted tests: arrays)
MAX_CASES = 5_000
MAX_VALUE_BYTES = 256 << 20   # values of converted tests kept per part (a forger could repeat them)
MAX_NOTES = 20
UNPRIVILEGED_USER = "nobody"
# rlimits of the child (soft = hard, so student code cannot raise them)
RLIMITS = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": 256 << 20, "RLIMIT_NOFILE": 4096, "RLIMIT_AS": 48 << 30}
NPROC_LIMIT = 4096            # processes and threads of the unprivileged user (not enforced for root)


class Refused(Exception):
    """The grader will not run student code here (one line saying how to fix it)."""


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


class EventReader:
    """Signed events from the child's event pipe, read in bounded time and memory.

    Lines are split once per chunk (a megabyte of bare newlines costs one split); a line longer
    than MAX_EVENT_LINE is dropped up to its newline; any line that is not a well-formed, correctly
    signed, in-sequence event (including one nested deeply enough to exhaust the recursion
    limit) is ignored.
    """

    def __init__(self, fd: int, key: bytes):
        self.fd, self.key = fd, key
        self.partial = bytearray()
        self.dropping = False
        self.seq = 0
        self.eof = False

    def feed(self, chunk: bytes) -> List[dict]:
        pieces = chunk.split(b"\n")
        events = []
        for piece in pieces[:-1]:
            if self.dropping:
                self.dropping = False
                self.partial.clear()
                continue
            if self.partial:
                self.partial += piece
                line = bytes(self.partial)
                self.partial.clear()
            else:
                line = piece
            if line and len(line) <= MAX_EVENT_LINE:
                event = self.decode(line)
                if event is not None:
                    events.append(event)
        if not self.dropping:
            self.partial += pieces[-1]
            if len(self.partial) > MAX_EVENT_LINE:
                self.partial.clear()
                self.dropping = True
        return events

    def decode(self, line: bytes) -> Optional[dict]:
        if not line.startswith(b'{"body": "'):
            return None
        try:
            outer = json.loads(line)
            body, mac = outer["body"], outer["mac"]
            if not isinstance(body, str) or not isinstance(mac, str):
                return None
            expected = hmac.new(self.key, body.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, mac):
                return None
            event = json.loads(body)
        except (ValueError, KeyError, TypeError, RecursionError, MemoryError):
            return None
        if isinstance(event, dict) and type(event.get("seq")) is int and event["seq"] > self.seq:
            self.seq = event["seq"]
            event["_bytes"] = len(line)
            return event
        return None

    def read(self) -> List[dict]:
        """Events from what is available now (sets ``eof`` at the end of the pipe)."""
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return []
        except OSError:
            self.eof = True
            return []
        if not chunk:
            self.eof = True
            return []
        return self.feed(chunk)

    def drain(self, seconds: float = 2.0) -> List[dict]:
        """Everything still in the pipe (bounded by ``seconds``)."""
        events, end = [], time.time() + seconds
        while not self.eof and time.time() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                break
            events += self.read()
        return events


def _text(value, limit: int) -> str:
    return report.truncate(value if isinstance(value, str) else "", limit)


def _valid_case(c, hidden_phase: bool, hidden_visibility: str) -> Optional[dict]:
    """A collected case as the parent keeps it (types checked, strings bounded), or None."""
    if not isinstance(c, dict) or not isinstance(c.get("nodeid"), str) or len(c["nodeid"]) > 1000:
        return None
    nodeid = report.clean(c["nodeid"])
    if not nodeid.startswith("tests/") or is_hidden(nodeid) != hidden_phase:
        return None
    points = c.get("points")
    if type(points) not in (int, float) or not math.isfinite(points) or not 0 <= points <= 1000:
        return None
    visibility = c.get("visibility")
    if visibility not in report.VISIBILITIES:
        visibility = hidden_visibility if hidden_phase else "visible"
    timeout = c.get("timeout")
    timeout = float(timeout) if type(timeout) in (int, float) and math.isfinite(timeout) and timeout > 0 else None
    return {"nodeid": nodeid, "name": _text(c.get("name"), 300) or nodeid.split("::")[-1],
            "points": float(points), "visibility": visibility, "hidden": hidden_phase, "timeout": timeout}


class _Run:
    """The state of one part (public or hidden tests) across its child processes."""

    def __init__(self, hidden: bool, hidden_visibility: str):
        self.hidden, self.hidden_visibility = hidden, hidden_visibility
        self.cases: Optional[List[dict]] = None
        self.status: Dict[str, dict] = {}
        self.notes: List[str] = []
        self.last_output = ""
        self.children = 0
        self.failure: Optional[str] = None
        self.value_bytes = 0

    def entry(self, nodeid):
        return self.status.setdefault(nodeid, {"started": False, "finished": False, "failed": False,
                                               "call_passed": False, "output": ""})

    def note(self, text: str) -> None:
        text = report.truncate(text, 2000)
        if len(self.notes) < MAX_NOTES and text not in self.notes:
            self.notes.append(text)

    def handle(self, event: dict, nodeids_allowed) -> None:
        kind = event.get("kind")
        if kind == "collected" and self.cases is None and isinstance(event.get("cases"), list):
            cases = [_valid_case(c, self.hidden, self.hidden_visibility) for c in event["cases"][:MAX_CASES]]
            self.cases = list({c["nodeid"]: c for c in cases if c is not None}.values())
        elif kind == "collect_error":
            self.note(f"Could not collect {_text(event.get('nodeid'), 300)}: {_text(event.get('output'), 1500)}")
        elif kind in ("start", "report", "finish", "values") and event.get("nodeid") in nodeids_allowed:
            e = self.entry(event["nodeid"])
            if kind == "values":
                size = event.get("_bytes", 0)
                if e["started"] and not e["finished"] and self.value_bytes + size <= MAX_VALUE_BYTES:
                    self.value_bytes += size
                    e["values"] = event.get("values")
            elif kind == "start":
                e["started"] = True
            elif kind == "finish":
                e["finished"] = e["started"]
            else:
                if event.get("failed") is True:
                    e["failed"] = True
                    room = report.MAX_TEST_OUTPUT - len(e["output"])
                    if room > 0:
                        e["output"] += report.truncate(_text(event.get("output"), report.MAX_OUTPUT_CHARS), room)
                if event.get("when") == "call" and event.get("passed") is True and event.get("failed") is False:
                    e["call_passed"] = True


# ---- isolation -------------------------------------------------------------------------------------

_BWRAP: Dict[str, Optional[str]] = {}


def _bwrap_base(uid_drop: bool) -> List[str]:
    cmd = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
           "--unshare-uts", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if os.geteuid() == 0:
        cmd += ["--cap-drop", "ALL"] + (["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if uid_drop else [])
    else:
        cmd += ["--unshare-user"]
    return cmd


def bubblewrap() -> Optional[str]:
    """The path of a working ``bwrap`` (bubblewrap), or None (not installed, or it cannot create
    its namespaces here). ``MTL_GRADE_BWRAP=0`` turns it off."""
    if os.environ.get("MTL_GRADE_BWRAP", "1") == "0":
        return None
    if "path" not in _BWRAP:
        path = shutil.which("bwrap")
        if path is not None:
            try:
                ok = subprocess.run([path, *_bwrap_base(False), "true"], stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            path = path if ok else None
        _BWRAP["path"] = path
    return _BWRAP["path"]


def _within(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _python_dirs() -> List[str]:
    """Folders the child's Python needs (interpreter, standard library, site-packages)."""
    import site
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
            os.path.dirname(os.__file__)}
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:
        pass
    dirs.update(os.path.dirname(p) for p in python_paths_for_nobody())
    return sorted(os.path.realpath(d) for d in dirs if d and os.path.isdir(d))


def _bwrap_command(bwrap: str, workspace: str, home: str, masks: List[str], uid_drop: bool) -> List[str]:
    """bubblewrap around the child: the system read-only, /tmp private (the workspace read-only in it,
    home writable), the grader's source and solutions masked, no network, own PID namespace."""
    cmd = [bwrap, *_bwrap_base(uid_drop)]
    for d in _python_dirs():
        if _within(d, "/tmp"):
            cmd += ["--ro-bind", d, d]
    python = _python_dirs()
    # an empty read-only folder over each mask; one above the Python installation would hide it
    chosen = [m for m in masks if os.path.isdir(m) and not any(_within(x, m) for x in python)]
    for m in chosen:
        if not any(_within(m, other) and m != other for other in chosen):
            cmd += ["--tmpfs", m, "--remount-ro", m]
    cmd += ["--ro-bind", workspace, workspace, "--bind", home, home, "--chdir", workspace, "--"]
    return cmd


def _set_rlimits(user) -> None:
    """In the child, before exec: soft = hard limits the child cannot raise."""
    for name, value in RLIMITS.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    if user is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        except (ValueError, OSError):
            pass


RUN_ENV = "MTL_GRADE_RUN"     # a random token in every child's environment (its descendants inherit it)


def _kill_uid(uid: int, token: str) -> None:
    """Kill every process of ``uid`` whose environment carries this child's ``token``: the child's
    processes, setsid escapees included, and not those of another grading running as the same user."""
    if uid in (0, os.getuid()):
        return
    marker = f"{RUN_ENV}={token}".encode()
    for _ in range(5):
        found = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status") as f:
                    uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
                if str(uid) not in uids:
                    continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if marker not in f.read().split(b"\0"):
                        continue
            except (OSError, StopIteration):
                continue
            found = True
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.05)


def _child_env(workspace: str, home: str, channel: str, user, token: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": os.path.join(home, "tmp"),
           RUN_ENV: token,
           "PYTHONPATH": workspace, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "MTL_IMPL": "homework", child.CHANNEL_ENV: channel,
           "KERAS_HOME": os.path.join(home, ".keras")}
    for name in ("LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS"):
        if name in os.environ:
            env[name] = os.environ[name]
    if user is not None:
        env[child.USER_ENV] = f"{user.pw_uid},{user.pw_gid}"
    return env


def _describe_exit(code) -> str:
    if code is None:
        return "it was stopped"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _run_child(run: _Run, workspace: str, home: str, nodeids, user, timeout: float, deadline: float,
               hidden_visibility: str, isolation: Optional[List[str]]):
    """One child pytest over ``nodeids`` (None: every graded test of the part).
    Returns (blamed nodeid or None, reason) or None."""
    key = secrets.token_bytes(32)
    key_r, key_w = os.pipe()
    ev_r, ev_w = os.pipe()
    os.write(key_w, key)
    os.close(key_w)
    target = "tests/hidden" if run.hidden else "tests"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "points", "--impl=homework", "-c",
           os.path.join(workspace, "pytest.ini"), "--rootdir", workspace, "--basetemp",
           os.path.join(home, "pytest"), "-o", f"timeout={max(1, int(timeout) - 5)}",
           f"--hidden-visibility={hidden_visibility}", *(nodeids if nodeids is not None else [target])]
    if isolation is not None:
        cmd = isolation + cmd
    run.children += 1
    token = secrets.token_hex(16)
    proc = subprocess.Popen(cmd, cwd=workspace, env=_child_env(workspace, home, f"{key_r},{ev_w}", user, token),
                            pass_fds=(key_r, ev_w), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: _set_rlimits(user))
    os.close(key_r)
    os.close(ev_w)
    tail = _Tail(proc.stdout)
    os.set_blocking(ev_r, False)
    reader = EventReader(ev_r, key)
    allowed = set(nodeids) if nodeids is not None else set()
    current, started_at, blamed, done = None, time.time(), None, False
    timed = set()

    last_event = time.time()

    def take(events):
        nonlocal allowed, current, started_at, done, last_event
        if events:
            last_event = time.time()
        for event in events:
            run.handle(event, allowed)
            kind = event.get("kind")
            if kind == "collected" and nodeids is None and run.cases is not None:
                allowed = {c["nodeid"] for c in run.cases}
            elif kind == "start" and event.get("nodeid") in allowed and event["nodeid"] not in timed:
                timed.add(event["nodeid"])  # once per test: repeated starts cannot reset its clock
                current, started_at = event["nodeid"], time.time()
            elif kind == "finish":
                current = None
            elif kind == "done":
                done = True
        if run.cases is not None and allowed and all(run.entry(n)["finished"] for n in allowed):
            done = True  # every test finished: a lingering thread must not keep the child alive

    try:
        while True:
            ready, _, _ = select.select([ev_r], [], [], 0.2)
            if ready:
                take(reader.read())
            now = time.time()
            if done:
                break
            if current is not None and now - started_at > _limit(run, current, timeout) + 5:
                blamed = (current, f"Time limit: the test ran for more than {_limit(run, current, timeout):g} s "
                                   "(an infinite loop or a very slow implementation?); it was stopped.")
                break
            if now > deadline:
                blamed = (current, "The whole grading run hit its time limit; this test was stopped.")
                break
            if current is None and now - last_event > 2 * timeout + 10:
                break  # silent between tests (a forged 'finish' before a hang): the tests left get a fresh child
            if reader.eof or proc.poll() is not None:
                take(reader.drain())
                try:
                    proc.wait(timeout=1)  # its own exit code, if it is ending anyway
                except subprocess.TimeoutExpired:
                    pass
                break
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # also whatever the submission started in the child's session
        except (ProcessLookupError, PermissionError):
            pass
        if user is not None and isolation is None:
            _kill_uid(user.pw_uid, token)  # setsid escapees (with bubblewrap, the PID namespace ends with the child)
        proc.wait()
        os.close(ev_r)
    run.last_output = tail.text()
    if blamed is None and current is not None:
        blamed = (current, f"The test process ended while this test was running ({_describe_exit(proc.returncode)}: "
                           "sys.exit, os._exit, pytest.exit or a crash in the submitted code?). Output tail:\n"
                  + report.truncate(run.last_output[-1500:], 1500))
    if run.cases is None:
        return None, (f"the test process ended before collecting any test ({_describe_exit(proc.returncode)}); "
                      "its output:\n" + (report.truncate(run.last_output[-3000:], 3000).strip() or "(none)"))
    return blamed


def _limit(run: _Run, nodeid: str, timeout: float) -> float:
    for c in run.cases or []:
        if c["nodeid"] == nodeid:
            return max(timeout, c.get("timeout") or 0.0)
    return timeout


# ---- who runs student code -------------------------------------------------------------------------

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


def on_gradescope(root: str) -> bool:
    """True when grading from Gradescope's layout (the grader under /autograder/)."""
    return _within(root, "/autograder")


def _unprivileged_user(as_user: Optional[str], strict: bool, isolated: bool):
    """The user to run student code as (None: this process's user).

    As root: ``nobody`` when it can read this Python installation. Where it cannot, bubblewrap
    (no capabilities, read-only system) stands in; ``strict`` (Gradescope's layout) with neither
    refuses to grade, naming the path to fix.
    """
    if os.geteuid() != 0 or as_user == "":
        return None
    if as_user is None:
        unreadable = [p for p in python_paths_for_nobody() if not _readable_by_others(p)]
        if unreadable:
            if strict and not isolated:
                raise Refused(f"student code would run as root: '{UNPRIVILEGED_USER}' cannot read "
                              f"{unreadable[0]}; run setup.sh (a world-readable /autograder/venv) or install "
                              "bubblewrap (apt-get install bubblewrap)")
            return None
    return pwd.getpwnam(as_user or UNPRIVILEGED_USER)


# ---- one grading -----------------------------------------------------------------------------------

def _grade_part(hidden: bool, homework, grader, root: str, user, isolation_for, timeout: float,
                deadline: float, hidden_visibility: str, select: Optional[List[str]]):
    """Run the public (or hidden) tests in their own children; returns (cases, run)."""
    run = _Run(hidden, hidden_visibility)
    workspace = tempfile.mkdtemp(prefix="mtl-grade-")
    try:
        home = os.path.join(workspace, "home")
        nodeids = list(select) if select else None
        blamed_reasons: Dict[str, str] = {}
        remaining: List[str] = []
        while True:
            shutil.rmtree(home, ignore_errors=True)
            os.makedirs(os.path.join(home, "tmp"))
            populate(workspace, homework, grader, hidden=hidden)
            if user is not None:
                lock_down(workspace, home, user)
            isolation = isolation_for(workspace, home)
            blamed = _run_child(run, workspace, home, nodeids, user, timeout, deadline, hidden_visibility, isolation)
            if run.cases is None:
                run.failure = blamed[1] if blamed else "the test process collected no test"
                break
            if blamed and blamed[0]:
                blamed_reasons[blamed[0]] = blamed[1]
            remaining = [c["nodeid"] for c in run.cases
                         if not run.entry(c["nodeid"])["finished"] and c["nodeid"] not in blamed_reasons]
            if not remaining or time.time() > deadline or remaining == nodeids:
                break  # done, out of time, or a child that makes no progress
            if run.children >= MAX_CHILDREN:
                for n in remaining:
                    blamed_reasons[n] = (f"Did not run: the submitted code ended the test process {run.children} "
                                         "times, the most the grader restarts it.")
                break
            nodeids = remaining
        specs = _converted(grader, run.cases or [])
        cases = []
        for c in run.cases or []:
            e = run.entry(c["nodeid"])
            spec = specs.get(c["nodeid"])
            if spec is not None:  # converted: the parent's check on the values sent decides, nothing else
                if "values" in e:
                    passed, output = checked.verdict(spec, checked.case_id_of(c["nodeid"]), e["values"],
                                                     traceback_shown=not hidden)
                else:
                    passed = False
                    output = e["output"] or blamed_reasons.get(c["nodeid"], "") or (
                        "Did not run (the test process stopped before reaching it)." if not e["started"] else
                        "FAILED: the test sent no values (its compute half did not finish).")
            else:
                passed = e["finished"] and e["call_passed"] and not e["failed"]
                output = e["output"] or blamed_reasons.get(c["nodeid"], "") or (
                    "" if passed else "Did not run (the test process stopped before reaching it).")
            cases.append(dict(c, passed=passed, output=output, started=e["started"]))
        return cases, run
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def _converted(grader, cases) -> Dict[str, "checked.Spec"]:
    """{nodeid: Spec} of the collected cases that are converted tests, from the grader's own copy of
    their modules (written to a folder of the parent's, imported here: never the child's files)."""
    modules = sorted({c["nodeid"].split("::")[0][len("tests/"):] for c in cases})
    modules = [m for m in modules if checked.CONVERTED.search(grader["tests"].get(m, b"").decode(errors="replace"))]
    if not modules:
        return {}
    folder = tempfile.mkdtemp(prefix="mtl-checks-")
    try:
        for rel, data in grader["tests"].items():
            path = os.path.join(folder, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        registry = {m: checked.load(os.path.join(folder, m), folder) for m in modules}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    specs = {}
    for c in cases:
        rel = c["nodeid"].split("::")[0][len("tests/"):]
        spec = registry.get(rel, {}).get(checked.function_of(c["nodeid"]))
        if spec is not None:
            specs[c["nodeid"]] = spec
    return specs


def _error_results(message: str, execution_time: float = 0.0) -> dict:
    message = report.truncate(message, 3000)
    return {"score": 0.0, "max_score": 0.0, "execution_time": round(execution_time, 2),
            "stdout_visibility": "visible", "tests": [], "output": message,
            "extra_data": {"grading_error": message}}


def grade(submission: Optional[str], root: Optional[str] = None, include_hidden: bool = True,
          timeout: float = DEFAULT_TIMEOUT, time_limit: float = DEFAULT_TIME_LIMIT,
          hidden_visibility: str = "after_published", as_user: Optional[str] = None,
          select: Optional[List[str]] = None, strict: Optional[bool] = None,
          isolate: Optional[bool] = None) -> dict:
    """Grade ``submission`` (a folder with ``homework/*.py`` or the files themselves).

    Args:
      submission: the student's folder; None grades the untouched starter files.
      root: the grader's source folder (``mtl_tf/``, ``tests/``, ``homework/`` template).
      include_hidden: also run ``tests/hidden/`` (in children of their own).
      timeout: per-test limit in seconds, enforced by killing the child.
      time_limit: limit for the whole run.
      hidden_visibility: Gradescope visibility of hidden tests.
      as_user: as root, the user that runs student code (default 'nobody'; '' keeps root).
      select: optional node ids (relative to the workspace, e.g. 'tests/test_x.py::test_y') to run
        instead of every graded test.
      strict: refuse to run student code as root without bubblewrap (default: on Gradescope).
      isolate: use bubblewrap (default: where it works).
    Returns:
      the Gradescope results dict; a run in which no test ran (or a part could not start) has
      ``results["extra_data"]["grading_error"]``.
    """
    start = time.time()
    root = os.path.abspath(root or source_root())
    strict = on_gradescope(root) if strict is None else strict
    bwrap = bubblewrap() if isolate is not False else None
    if isolate and bwrap is None:
        return _error_results("The grader was asked to isolate with bubblewrap, but bwrap is missing or cannot "
                              "run here (apt-get install bubblewrap).")
    try:
        user = _unprivileged_user(as_user, strict, bwrap is not None)
    except Refused as e:
        return _error_results(f"The autograder refused to run: {e}. Please tell the course staff.")
    masks = sorted({root, os.path.join(root, "solutions"), os.path.join(root, "tests"),
                    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))})

    def isolation_for(workspace, home):
        return _bwrap_command(bwrap, workspace, home, masks, user is not None) if bwrap else None

    homework, notes = homework_files(submission, root)
    grader = grader_snapshot(root, include_hidden)
    deadline = start + time_limit
    parts = [False] + ([True] if include_hidden and any(is_hidden("tests/" + r) for r in grader["tests"]) else [])
    cases, errors, top_notes = [], [], list(notes)
    for hidden in parts:
        chosen = None
        if select:
            chosen = [n for n in select if is_hidden(n) == hidden]
            if not chosen:
                continue
        part_cases, run = _grade_part(hidden, homework, grader, root, user, isolation_for, timeout, deadline,
                                      hidden_visibility, chosen)
        cases += part_cases
        failure = run.failure
        if hidden:
            if failure:  # its reason may quote hidden tests: for the instructor's log only
                print(f"mtl-grade: the hidden tests could not start: {failure}", file=sys.stderr)
                errors.append("the hidden tests could not start (the reason is in the grader's log)")
            elif run.notes:
                print("mtl-grade: hidden tests: " + "\n".join(run.notes), file=sys.stderr)
                top_notes.append("Some hidden tests could not be collected (details hidden).")
        else:
            if failure:
                errors.append("the tests could not start: " + failure)
            top_notes += run.notes
    if cases and not any(c["started"] for c in cases) and not errors:
        errors.append("no test ran (every test process ended before its first test)")
    if not cases and not errors:
        errors.append("no graded test was collected")
    results = report.gradescope(cases, time.time() - start)
    top_notes = [report.truncate(n, 2000) for n in top_notes[:MAX_NOTES]]
    if errors:
        message = "The grading failed: " + "; ".join(errors) + ". Please tell the course staff."
        top_notes.insert(0, message)
        results["extra_data"] = {"grading_error": report.truncate(message, 3000)}
    if top_notes:
        results["output"] += "\n\n" + "\n".join(top_notes)
    results["output"] = report.truncate(results["output"], report.MAX_TOP_OUTPUT)
    return results
