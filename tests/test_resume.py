"""mtl-train killed with SIGKILL part-way, then re-run with the same command, ends exactly where an
uninterrupted run ends (--deterministic)."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
ARGS = ["--steps=300", "--checkpoint_every=50", "--eval_every=0", "--log_every=50", "--num_examples=2000",
        "--objective=uncertainty", "--deterministic", "--quiet"]


def _command(run_dir):
    return [sys.executable, "-m", "mtl_tf.train", *ARGS, f"--run_dir={run_dir}"]


def test_sigkilled_run_resumes_to_the_same_metrics(tmp_path):
    straight = subprocess.run(_command(tmp_path / "straight"), cwd=REPO, env=ENV, capture_output=True, text=True,
                              timeout=600)
    assert straight.returncode == 0, straight.stderr[-3000:]

    run = tmp_path / "killed"
    proc = subprocess.Popen(_command(run), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "checkpoints" / "checkpoint"
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended on its own (rc {proc.returncode}) before the kill"
    assert not (run / "metrics.json").exists()

    resumed = subprocess.run(_command(run), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from step" in resumed.stdout, resumed.stdout[-2000:]
    expected = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    got = json.loads((run / "metrics.json").read_text())
    assert 0 < got["resumed_from_step"] < 300, got["resumed_from_step"]
    assert got["tasks"] == expected["tasks"], (got["tasks"], expected["tasks"])
    assert got["validation"] == expected["validation"]
