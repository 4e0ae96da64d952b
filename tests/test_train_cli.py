"""mtl-train as a user runs it: bad flags, a short run, flags.txt replay.

Each subprocess pays TensorFlow's import (about 5 s), so the process-level checks run a few
representative commands (a bad flag value, a bad configuration, a bad environment) and the other
cases call the same flag parser and ``main`` in this process."""

import json
import re
import os
import subprocess
import sys

import pytest
from absl import flags
from absl.testing import flagsaver

from conftest import REPO
from mtl_tf import cli

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
FLAGS = flags.FLAGS


def mtl_train(*args, cwd=REPO, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "mtl_tf.train", *args], cwd=cwd, env=env or ENV,
                          capture_output=True, text=True, timeout=timeout)


def mtl_train_here(*args):
    """mtl-train's flag parser and ``main`` in this process: (exit code, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    from mtl_tf.train import main
    out, err = io.StringIO(), io.StringIO()
    with flagsaver.flagsaver(), redirect_stdout(out), redirect_stderr(err):
        try:
            main(cli.flags_parser("mtl-train")(["mtl-train", *args]))
            code = 0
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def _error_lines(stderr):
    return [l for l in stderr.splitlines() if l.strip() and not l.startswith(("W0000", "I0000", "E0000", "WARNING: All log"))]


BAD_FLAGS = [
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
]
IN_A_PROCESS = ("--model=nope", "--tasks_per_step=3", "--strategy=multi_worker --tf_config={{bad")


@pytest.mark.parametrize("flag, words", [c for c in BAD_FLAGS if c[0] in IN_A_PROCESS])
def test_bad_flag_is_one_clear_line(flag, words, tmp_path):
    args = flag.format(tmp=tmp_path).split()
    env = None
    if args[-1].startswith("--tf_config="):   # not a flag: the TF_CONFIG environment variable
        env = dict(ENV, TF_CONFIG=args.pop()[len("--tf_config="):])
    proc = mtl_train("--steps=1", *args, f"--run_dir={tmp_path}/r", env=env)
    assert proc.returncode != 0
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and words in lines[0], lines[0]


@pytest.mark.parametrize("flag, words", [c for c in BAD_FLAGS if c[0] not in IN_A_PROCESS])
def test_bad_flag_is_one_clear_line_in_process(flag, words, tmp_path):
    code, _, err = mtl_train_here("--steps=1", *flag.format(tmp=tmp_path).split(), f"--run_dir={tmp_path}/r")
    assert code == 2, err
    lines = _error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err and words in lines[0], err


def test_helpfull_lists_enum_values(helpfull):
    proc = helpfull
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = "".join(proc.stdout.split())  # absl wraps long enums mid-word
    models = re.search(r"--model:<([a-z_|]+)>", text)
    assert models and "shared_bottom" in models.group(1).split("|"), proc.stdout[-3000:]
    datasets = re.search(r"--dataset:<([a-z_0-9|]+)>", text)
    assert datasets and "correlated_regression" in datasets.group(1).split("|")
    assert proc.stdout.startswith("mtl-train: train a multi-task model"), proc.stdout[:500]


def test_help_lists_the_flags_of_every_mtl_tf_module(capsys):
    from mtl_tf import train
    with pytest.raises(SystemExit) as e:
        cli.flags_parser("mtl-train", train.__doc__, own_module="mtl_tf.train")(["mtl-train", "--help"])
    out = capsys.readouterr().out
    flags_listed = set(re.findall(r"^\s+--(?:\[no\])?(\w+)", out, re.M))
    wanted = {"dataset", "steps", "grad_method", "strategy", "nan_policy", "steps_per_call", "position_tower",
              "init_from", "hidden_units"}
    assert e.value.code == 0 and out.startswith("mtl-train: train a multi-task model"), out[:500]
    assert wanted <= flags_listed, (
        f"mtl-train --help should list {sorted(wanted - flags_listed)} too; it printed:\n{out[-2000:]}")


def test_short_run_writes_a_replayable_run(cli_run):
    run, proc = cli_run.run_dir, cli_run.first
    assert "baseline" in proc.stdout and "task1" in proc.stdout
    metrics = cli_run.record
    assert metrics["steps"] == 150 and metrics["traces"] == 1
    assert set(metrics["tasks"]) == {"task1", "task2"} and "rmse" in metrics["tasks"]["task1"]
    flags_txt = (run / "flags.txt").read_text()
    assert "--steps=150" in flags_txt and "--num_examples=2000" in flags_txt
    assert (run / "model.keras").exists()
    assert cli_run.replay.returncode == 0, cli_run.replay.stderr[-3000:]
    again = json.loads((cli_run.replay_dir / "metrics.json").read_text())
    assert again["tasks"]["task1"]["rmse"] == pytest.approx(metrics["tasks"]["task1"]["rmse"], rel=1e-4)


def test_run_dir_of_another_configuration_is_refused_unless_overwrite(tmp_path):
    run = tmp_path / "run"
    common = ("--steps=2", "--eval_every=0", "--num_examples=300", "--quiet", f"--run_dir={run}")
    code, _, err = mtl_train_here(*common)
    assert code == 0, err[-3000:]
    code, _, err = mtl_train_here(*common, "--objective=uncertainty")
    lines = [l for l in err.splitlines() if l.startswith("mtl-train: error")]
    assert code == 2 and len(lines) == 1, err[-3000:]
    assert "different configuration" in lines[0] and "--objective=uncertainty" in lines[0] and \
        "--overwrite" in lines[0], lines[0]
    assert "--objective=sum" in (run / "flags.txt").read_text(), "the refused run must leave the old run alone"
    code, out, err = mtl_train_here(*common, "--objective=uncertainty", "--overwrite")
    assert code == 0, err[-3000:]
    assert "Resuming" not in out and "--objective=uncertainty" in (run / "flags.txt").read_text()
    assert json.loads((run / "metrics.json").read_text())["config"]["objective"] == "uncertainty"


@pytest.mark.slow
def test_default_run_beats_the_baseline_on_every_task(tmp_path):
    proc = mtl_train(cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Every task beats the baseline." in proc.stdout, proc.stdout[-2000:]
    assert (tmp_path / "runs").is_dir()
