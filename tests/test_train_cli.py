"""mtl-train as a user runs it: bad flags, a short run, flags.txt replay."""

import json
import re
import os
import subprocess
import sys

import pytest

from conftest import REPO

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def mtl_train(*args, cwd=REPO, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "mtl_tf.train", *args], cwd=cwd, env=env or ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("flag, words", [
    ("--model=nope", "--model"),
    ("--learning_rate=-1", "--learning_rate must be > 0"),
    ("--tasks_per_step=0", "--tasks_per_step"),
    ("--steps=abc", "--steps"),
    ("--flagfile=/nonexistent/x.flags", "/nonexistent/x.flags"),
    ("--tasks_per_step=3", "has only 2 tasks"),
    ("--no_such_flag=1", "Unknown command line flag 'no_such_flag'"),
    ("--flagfile={tmp}", "Unable to open flagfile"),                       # unreadable: a directory
    ("--objective=weighted --task_weights=1,2,3", "--task_weights has 3 value(s) but the data has 2 tasks"),
    ("--nan_policy=maybe", "--nan_policy"),
    ("--checkpoint_every=-5", "--checkpoint_every"),
    ("--strategy=multi_worker --tf_config={{bad", "TF_CONFIG is not valid JSON"),
])
def test_bad_flag_is_one_clear_line(flag, words, tmp_path):
    args = flag.format(tmp=tmp_path).split()
    env = None
    if args[-1].startswith("--tf_config="):   # not a flag: the TF_CONFIG environment variable
        env = dict(ENV, TF_CONFIG=args.pop()[len("--tf_config="):])
    proc = mtl_train("--steps=1", *args, f"--run_dir={tmp_path}/r", env=env)
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


def test_help_lists_the_flags_of_every_mtl_tf_module():
    proc = mtl_train("--help")
    flags_listed = set(re.findall(r"^\s+--(?:\[no\])?(\w+)", proc.stdout, re.M))
    wanted = {"dataset", "steps", "grad_method", "strategy", "nan_policy", "steps_per_call", "position_tower",
              "init_from", "hidden_units"}
    assert wanted <= flags_listed, (  # absl exits 1 after --help
        f"mtl-train --help should list {sorted(wanted - flags_listed)} too; it printed:\n{proc.stdout[-2000:]}")


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


def test_run_dir_of_another_configuration_is_refused_unless_overwrite(tmp_path):
    run = tmp_path / "run"
    first = mtl_train("--steps=2", "--eval_every=0", "--num_examples=300", f"--run_dir={run}")
    assert first.returncode == 0, first.stderr[-3000:]
    other = mtl_train("--steps=2", "--eval_every=0", "--num_examples=300", "--objective=uncertainty", f"--run_dir={run}")
    lines = [l for l in other.stderr.splitlines() if l.startswith("mtl-train: error")]
    assert other.returncode == 2 and len(lines) == 1, other.stderr[-3000:]
    assert "different configuration" in lines[0] and "--objective=uncertainty" in lines[0] and \
        "--overwrite" in lines[0], lines[0]
    assert "--objective=sum" in (run / "flags.txt").read_text(), "the refused run must leave the old run alone"
    forced = mtl_train("--steps=2", "--eval_every=0", "--num_examples=300", "--objective=uncertainty", "--overwrite",
                       f"--run_dir={run}")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "Resuming" not in forced.stdout and "--objective=uncertainty" in (run / "flags.txt").read_text()
    assert json.loads((run / "metrics.json").read_text())["config"]["objective"] == "uncertainty"


@pytest.mark.slow
def test_default_run_beats_the_baseline_on_every_task(tmp_path):
    proc = mtl_train(cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Every task beats the baseline." in proc.stdout, proc.stdout[-2000:]
    assert (tmp_path / "runs").is_dir()
