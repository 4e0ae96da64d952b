"""Shared test setup: quiet TensorFlow, absl flags parsed with their defaults, small helpers, and the
command-line runs several test files look at (session fixtures: each subprocess pays TensorFlow's
import, about 5 s, so a run is made once and shared)."""

import json
import os
import re
import subprocess
import sys
import types

from mtl_tf import entry

entry.quiet_tensorflow()   # no TensorFlow start-up lines in a test's captured output

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from absl import flags  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines every mtl-train flag)

flags.FLAGS.mark_as_parsed()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# a user's environment: nothing in it quiets TensorFlow already
USER_ENV = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", entry.VERBOSE_ENV)}
SHORT_RUN = ("--steps=150", "--eval_every=0", "--num_examples=2000")


def console_scripts() -> dict:
    """{script name: (module, function)} as setup.py declares them."""
    with open(os.path.join(REPO, "setup.py")) as f:
        return {name: (module, fn) for name, module, fn in re.findall(r'"(mtl-[a-z]+)=([\w.]+):(\w+)"', f.read())}


def script_command(name, *args) -> list:
    """The command line of console script ``name`` as setup.py's entry point runs it (whatever an older
    install left in the venv's bin/)."""
    module, fn = console_scripts()[name]
    code = f"import sys; sys.argv[0] = {name!r}; from {module} import {fn}; sys.exit({fn}())"
    return [sys.executable, "-c", code, *args]


def run_script(name, *args, cwd=REPO, env=None, timeout=300):
    return subprocess.run(script_command(name, *args), cwd=cwd, env=env or USER_ENV, capture_output=True, text=True,
                          timeout=timeout)


def mtl_train_module(*args, cwd=REPO, env=None, timeout=300):
    """``python -m mtl_tf.train ARGS``."""
    return subprocess.run([sys.executable, "-m", "mtl_tf.train", *args], cwd=cwd, env=env or USER_ENV,
                          capture_output=True, text=True, timeout=timeout)


def once_per_run(tmp_path_factory, name, make):
    """``make(folder)`` once per pytest run, also with pytest-xdist's workers (README's ``-n auto``),
    which share the parent of their base temp folders: the first worker computes it under a file lock,
    the others read its pickled result. For session fixtures whose result tests only read."""
    import fcntl
    import pickle
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return make(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / f"{name}.pickle"
        if done.exists():
            return pickle.loads(done.read_bytes())
        folder = shared / name
        folder.mkdir(exist_ok=True)
        value = make(folder)
        done.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def helpfull(tmp_path_factory):
    """``python -m mtl_tf.train --helpfull``, run once."""
    return once_per_run(tmp_path_factory, "helpfull", lambda folder: mtl_train_module("--helpfull"))


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory):
    """A short ``mtl-train`` run through the console-script entry point in a user's environment (``first``,
    its ``record``: metrics.json), its flags.txt replayed into another folder (``replay``), then the first
    command again on its finished run (``again``, and metrics.json after it: ``rerecord``)."""
    return once_per_run(tmp_path_factory, "cli_run", _cli_run)


def _cli_run(root):
    run_dir, replay_dir = root / "run", root / "replay"
    first = run_script("mtl-train", *SHORT_RUN, f"--run_dir={run_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    replay = mtl_train_module(f"--flagfile={run_dir / 'flags.txt'}", f"--run_dir={replay_dir}")
    again = run_script("mtl-train", *SHORT_RUN, f"--run_dir={run_dir}")
    assert again.returncode == 0, again.stderr[-3000:]
    return types.SimpleNamespace(run_dir=run_dir, first=first, record=record, replay_dir=replay_dir, replay=replay,
                                 again=again, rerecord=json.loads((run_dir / "metrics.json").read_text()))


@pytest.fixture(scope="session")
def mtl_data_describe(tmp_path_factory):
    """``mtl-data describe families --num_examples=400 --family_tasks=3`` through its entry point."""
    return once_per_run(tmp_path_factory, "mtl_data_describe", lambda folder: run_script(
        "mtl-data", "describe", "families", "--num_examples=400", "--family_tasks=3"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def describe(array) -> str:
    """A short, student-readable description of an array's shape and values."""
    a = np.asarray(array)
    if a.size <= 8:
        return f"shape {a.shape}, values {np.array2string(a, precision=4)}"
    return f"shape {a.shape}, first values {np.array2string(a.reshape(-1)[:6], precision=4)} ..."


def pytest_xdist_auto_num_workers(config):
    """``pytest -n auto`` (README's test command): one worker per core, at most 4 (each worker holds
    its own TensorFlow, ~1 GB)."""
    return max(1, min(4, os.cpu_count() or 1))
