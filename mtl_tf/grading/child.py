"""pytest plugin loaded only in the sandboxed child that runs student code (see ``sandbox.py``).

It never decides a grade: it streams signed events (collected cases, test start, each phase's
outcome, test finish) to the trusted parent over an inherited pipe, and the parent writes
results.json. Before any student code can run it:

* reads the per-run HMAC key from a pipe and closes it (the key is in neither the environment
  nor a file, so the submission cannot sign events of its own by reading them);
* blocks ``import homework...`` while tests are collected (collection may run privileged);
* after collection, installs ``guard.Firewall`` (homework functions may not return objects whose
  comparisons are the submission's own code), takes a ``guard.Snapshot`` of the comparison
  machinery and, when the parent asked for it, drops to an unprivileged uid/gid (hidden test
  files and the results folder are then out of reach).

After every graded test the snapshot is compared with the live objects: if the submission
monkeypatched any of them, the test fails ("tampering") and the child exits so that the
following tests run in a fresh process.
"""

import hashlib
import hmac
import json
import os
import sys

import pytest

from mtl_tf.grading import checked, guard, plugin

CHANNEL_ENV = "MTL_GRADE_CHANNEL"   # "<key fd>,<event fd>"
USER_ENV = "MTL_GRADE_USER"         # "<uid>,<gid>": drop to this user after collection

_state = {"emit": None, "snapshot": None, "tampered": False, "blocker": None, "solutions_blocker": None}


def _signer(key: bytes, out):
    """A function writing signed events to ``out``; the key lives only in its closure."""
    seq = [0]

    def emit(kind, **payload):
        seq[0] += 1
        payload.update(kind=kind, seq=seq[0])
        body = json.dumps(payload, sort_keys=True)
        mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
        out.write((json.dumps({"body": body, "mac": mac}) + "\n").encode())
        out.flush()

    return emit


def _emit(kind, **payload):
    if _state["emit"] is not None:
        _state["emit"](kind, **payload)


class _SolutionsBlocker:
    """A meta-path finder refusing the reference ``solutions`` package for the child's whole life."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "solutions" or name.startswith("solutions."):
            raise ImportError(f"{name}: the reference solutions cannot be imported while grading")
        return None


class _HomeworkBlocker:
    """A meta-path finder refusing ``homework`` imports until collection is over."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "homework" or name.startswith("homework."):
            raise ImportError(f"{name}: graded code cannot be imported while tests are collected "
                              "(call impl.module(...) inside the test)")
        return None


def _drop_privileges():
    value = os.environ.pop(USER_ENV, "")
    if not value:
        return
    uid, gid = (int(v) for v in value.split(","))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("could not drop privileges")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    channel = os.environ.pop(CHANNEL_ENV, "")
    if not channel:
        return
    key_fd, event_fd = (int(v) for v in channel.split(","))
    checked.MODE = "child"  # converted tests only compute; the parent checks what they send
    with os.fdopen(key_fd, "rb") as f:
        _state["emit"] = _signer(f.read(), os.fdopen(event_fd, "wb", buffering=0))
    _state["blocker"] = _HomeworkBlocker()
    _state["solutions_blocker"] = _SolutionsBlocker()
    sys.meta_path.insert(0, _state["blocker"])
    sys.meta_path.insert(0, _state["solutions_blocker"])
    for name in [n for n in sys.modules if n == "solutions" or n.startswith("solutions.")]:
        del sys.modules[name]


def pytest_collectreport(report):
    if report.failed:
        _emit("collect_error", nodeid=report.nodeid, output=plugin.failure_text(report))


def pytest_collection_finish(session):
    if _state["emit"] is None:
        return
    cases = []
    for item in session.items:
        if plugin.points(item) is None:
            continue
        info = plugin.case_info(item, session.config.getoption("--hidden-visibility"))
        marker = item.get_closest_marker("timeout")
        info["timeout"] = float(marker.args[0]) if marker and marker.args else None
        cases.append(info)
    _emit("collected", cases=cases)
    firewall = guard.Firewall(os.path.join(str(session.config.rootpath), "homework"))
    sys.meta_path.remove(_state["blocker"])
    sys.meta_path.insert(0, firewall)
    _state["snapshot"] = guard.Snapshot(firewall, keep=[_state["solutions_blocker"]])
    _drop_privileges()


def pytest_runtest_logstart(nodeid, location):
    _emit("start", nodeid=nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if _state["emit"] is None or call.when != "call" or _state["tampered"]:
        return
    snapshot = _state["snapshot"]
    changed = snapshot.changed() if isinstance(snapshot, guard.Snapshot) else ["the grader's snapshot"]
    if changed:
        _state["tampered"] = True
        rep = outcome.get_result()
        rep.outcome = "failed"
        rep.longrepr = ("Tampering: the submission replaced objects the grader compares with, so this test "
                        "cannot be trusted and scores 0: " + ", ".join(changed[:10]))


def pytest_runtest_logreport(report):
    if _state["emit"] is None:
        return
    if report.when == "call":
        values = checked.OUTBOX.pop(report.nodeid, None)
        if values is not None:
            _emit("values", nodeid=report.nodeid, values=values)
    failed, text = plugin.outcome_line(report)
    _emit("report", nodeid=report.nodeid, when=report.when, failed=failed, passed=report.passed, output=text)


def pytest_runtest_logfinish(nodeid, location):
    _emit("finish", nodeid=nodeid)
    if _state["tampered"]:
        os._exit(0)  # the next tests get a fresh, untampered process


def pytest_sessionfinish(session, exitstatus):
    _emit("done")
