"""mtl-train as a user runs it: bad flags, a short run, flags.txt replay."""

import json
import re
import os
import subprocess
import sys

import pytest

from conftest import REPO

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def mtl_train(*args, cwd=REPO, timeout=300):
    return subprocess.run([sys.executable, "-m", "mtl_tf.train", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("flag, words", [
    ("--model=nope", "--model"),
    ("--learning_rate=-1", "--learning_rate must be > 0"),
    ("--tasks_per_step=0", "--tasks_per_step"),
    ("--steps=abc", "--steps"),
    ("--flagfile=/nonexistent/x.flags", "/nonexistent/x.flags"),
    ("--tasks_per_step=3", "has only 2 tasks"),
])
def test_bad_flag_is_one_clear_line(flag, words, tmp_path):
    proc = mtl_train("--steps=1", flag, f"--run_dir={tmp_path}/r")
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith(("W0000", "I0000", "E0000", "WARNING: All log"))]
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and words in lines[0], lines[0]


def test_helpfull_lists_enum_values():
    proc = mtl_train("--helpfull")
    text = "".join(proc.stdout.split())  # absl wraps long enums mid-word
    models = re.search(r"--model:<([a-z_|]+)>", text)
    assert models and "shared_bottom" in models.group(1).split("|"), proc.stdout[-3000:]
    datasets = re.search(r"--dataset:<([a-z_0-9|]+)>", text)
    assert datasets and "correlated_regression" in datasets.group(1).split("|")


def test_short_run_writes_a_replayable_run(tmp_path):
    run = tmp_path / "run"
    proc = mtl_train("--steps=150", "--eval_every=0", "--num_examples=2000", f"--run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "baseline" in proc.stdout and "task1" in proc.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 150 and metrics["traces"] == 1
    assert set(metrics["tasks"]) == {"task1", "task2"} and "rmse" in metrics["tasks"]["task1"]
    flags_txt = (run / "flags.txt").read_text()
    assert "--steps=150" in flags_txt and "--num_examples=2000" in flags_txt
    assert (run / "model.keras").exists()
    replay = tmp_path / "replay"
    proc2 = mtl_train(f"--flagfile={run / 'flags.txt'}", f"--run_dir={replay}")
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    again = json.loads((replay / "metrics.json").read_text())
    assert again["tasks"]["task1"]["rmse"] == pytest.approx(metrics["tasks"]["task1"]["rmse"], rel=1e-4)


@pytest.mark.slow
def test_default_run_beats_the_baseline_on_every_task(tmp_path):
    proc = mtl_train(cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Every task beats the baseline." in proc.stdout, proc.stdout[-2000:]
    assert (tmp_path / "runs").is_dir()
