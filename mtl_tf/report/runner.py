"""Run (or reuse) the runs of the claims, with progress and an ETA.

Each run is ``python -m <claim.module> --flagfile=flags/<claim file> --<override>... --seed=S
--run_dir=WORK/<claim>/<setting>-seed<S> --quiet`` in a subprocess (the module is ``mtl_tf.train``
unless the claim names another entry point, e.g. ``mtl_tf.transfer_experiment``). A run folder
holding the claim's marker file (``metrics.json``; ``transfer.json`` for mtl-transfer) is finished
and reused; a folder without it (an interrupted run) is removed and run again, so an interrupted
report resumes where it stopped. The run's output goes to ``<run_dir>.log`` next to the folder.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from mtl_tf.report.claims import Claim, ClaimResults, Setting
from mtl_tf.report.fitgap import TRAIN_METRICS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS_DIR = os.path.join(REPO_ROOT, "flags")
QUICK_STEPS = 30


@dataclass
class Run:
    claim: Claim
    setting: Setting
    seed: int
    run_dir: str

    @property
    def metrics_path(self) -> str:
        """The claim's marker file in the run dir (metrics.json for mtl-train): finished runs have it."""
        return os.path.join(self.run_dir, self.claim.marker)

    @property
    def signature_path(self) -> str:
        return self.run_dir + ".cmd"

    def signature(self, quick: bool) -> str:
        """The command line and the flag file's text: a finished run is reused only if both are unchanged."""
        with open(os.path.join(FLAGS_DIR, self.claim.flagfile)) as f:
            text = f.read()
        return " ".join(command(self, quick)[1:]) + "\n" + text

    def trained(self, quick: bool = False) -> bool:
        """metrics.json exists and was made by this run's current command and flag file."""
        if not (os.path.exists(self.metrics_path) and os.path.exists(self.signature_path)):
            return False
        with open(self.signature_path) as f:
            return f.read() == self.signature(quick)

    def finished(self, quick: bool = False) -> bool:
        """Trained, and evaluated on its training split if the claim needs that."""
        return self.trained(quick) and (
            not self.claim.train_metrics or os.path.exists(os.path.join(self.run_dir, TRAIN_METRICS)))


def flag_args(overrides: Dict[str, object]) -> List[str]:
    """``--name=value`` for each override; booleans as ``--name`` / ``--noname``."""
    out = []
    for name, value in overrides.items():
        if isinstance(value, bool):
            out.append(f"--{name}" if value else f"--no{name}")
        else:
            out.append(f"--{name}={value}")
    return out


def plan(claims: Sequence[Claim], work_dir: str, quick: bool = False) -> List[Run]:
    """Every run of the runnable claims (quick: the first seed only), in claim order."""
    runs = []
    for c in claims:
        if c.needs:
            continue
        seeds = c.seeds[:1] if quick else c.seeds
        for s in c.settings:
            for seed in seeds:
                runs.append(Run(c, s, seed, os.path.join(os.path.abspath(work_dir), f"claim{c.number:02d}_{c.key}",
                                                         f"{s.slug}-seed{seed}")))
    return runs


def command(run: Run, quick: bool = False) -> List[str]:
    """The command line of one run: ``python -m <claim.module>`` (mtl-train unless the claim says otherwise)."""
    args = [sys.executable, "-m", run.claim.module, f"--flagfile={os.path.join(FLAGS_DIR, run.claim.flagfile)}",
            *flag_args(run.setting.flags), f"--seed={run.seed}", f"--run_dir={run.run_dir}", "--quiet"]
    if quick:
        quick_flags = run.claim.quick_flags
        args += flag_args({"steps": QUICK_STEPS, "eval_every": 0} if quick_flags is None else quick_flags)
    return args


def execute(run: Run, quick: bool = False) -> Optional[str]:
    """Train one run (and its training-split metrics if the claim needs them); None, or the error."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log_path = run.run_dir + ".log"
    os.makedirs(os.path.dirname(run.run_dir), exist_ok=True)
    if not run.trained(quick):
        if os.path.exists(run.run_dir):
            shutil.rmtree(run.run_dir)  # interrupted, or made with other flags: run it again
        with open(run.signature_path, "w") as f:
            f.write(run.signature(quick))
        with open(log_path, "w") as log:
            rc = subprocess.call(command(run, quick), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        if rc != 0 or not os.path.exists(run.metrics_path):
            return f"{run.claim.module} exited with {rc}: {_tail(log_path)} (full log: {log_path})"
    if run.claim.train_metrics and not os.path.exists(os.path.join(run.run_dir, TRAIN_METRICS)):
        with open(log_path, "a") as log:
            rc = subprocess.call([sys.executable, "-m", "mtl_tf.apps.fitgap", run.run_dir], stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        if rc != 0:
            return f"training-split evaluation exited with {rc}: {_tail(log_path)} (full log: {log_path})"
    return None


def _tail(path: str, lines: int = 3) -> str:
    try:
        with open(path) as f:
            return " | ".join(line.strip() for line in f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def load(run: Run) -> dict:
    """The run's marker file (metrics.json) as a dict, with "train" added from train_metrics.json when present."""
    with open(run.metrics_path) as f:
        results = json.load(f)
    extra = os.path.join(run.run_dir, TRAIN_METRICS)
    if os.path.exists(extra):
        with open(extra) as f:
            results["train"] = json.load(f)
    return results


class Progress:
    """One line per finished run: claim, i/N, what ran, seconds, ETA from the runs executed so far."""

    def __init__(self, total: int, jobs: int, out=sys.stdout):
        self.total, self.jobs, self.out = total, jobs, out
        self.done = self.executed = self.reused = 0
        self.seconds = 0.0

    def update(self, run: Run, seconds: float, status: str):
        self.done += 1
        if status == "ran":
            self.executed += 1
            self.seconds += seconds
        self.reused += status == "reused"
        left = self.total - self.done
        eta = (self.seconds / self.executed) * left / self.jobs if self.executed else 0.0
        self.out.write(f"[claim {run.claim.number:2d} {run.claim.key}] run {self.done}/{self.total} {status} "
                       f"({run.setting.label}, seed {run.seed}, {seconds:.0f} s); ETA {eta / 60:.1f} min\n")
        self.out.flush()


class WorkLock:
    """One mtl-report at a time per work folder: ``<work_dir>/.lock`` holds the owner's pid.

    A lock left by a process that no longer exists (killed) is taken over."""

    def __init__(self, work_dir: str):
        self.path = os.path.join(work_dir, ".lock")

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    pid = int(f.read().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, PermissionError, OSError):
                pid = 0
            if pid and pid != os.getpid():
                raise RuntimeError(f"another mtl-report (pid {pid}) is running in {os.path.dirname(self.path)}; "
                                   "wait for it, or use --norun to write the report from the finished runs")
        with open(self.path, "w") as f:
            f.write(str(os.getpid()))
        return self

    def __exit__(self, *exc):
        try:
            os.remove(self.path)
        except OSError:
            pass


def run_all(runs: Sequence[Run], quick: bool = False, jobs: int = 1, progress: Optional[Progress] = None,
            on_claim_done=None, errors: Optional[Dict[str, str]] = None, train: bool = True) -> Dict[str, str]:
    """Run what is not finished, ``jobs`` at a time, claim by claim; returns {run_dir: error} of failures.

    ``on_claim_done(claim)`` is called when the last run of a claim is finished (to write the report
    as it goes). ``train=False`` runs nothing: unfinished runs are reported as missing."""
    progress = progress or Progress(len(runs), jobs)
    errors = {} if errors is None else errors  # filled as runs fail, so on_claim_done sees them

    def one(run):
        if run.finished(quick):
            return run, 0.0, None, "reused"
        if not train:
            return run, 0.0, None, "missing"
        start = time.perf_counter()
        err = execute(run, quick)
        return run, time.perf_counter() - start, err, "failed" if err else "ran"

    order = []
    for r in runs:
        if r.claim not in order:
            order.append(r.claim)
    # claims with the fewest runs left first, so that as many claims as possible are complete early
    order.sort(key=lambda c: sum(1 for r in runs if r.claim is c and not r.finished(quick)))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for claim in order:
            for run, seconds, err, status in pool.map(one, [r for r in runs if r.claim is claim]):
                if err:
                    errors[run.run_dir] = err
                progress.update(run, seconds, status)
            if on_claim_done:
                on_claim_done(claim)
    return errors


def results(claim: Claim, runs: Sequence[Run], quick: bool = False) -> ClaimResults:
    """The finished runs of ``claim`` as ClaimResults (unfinished or failed runs are left out)."""
    by_label: Dict[str, Dict[int, dict]] = {}
    for r in runs:
        if r.claim is claim and r.finished(quick):
            by_label.setdefault(r.setting.label, {})[r.seed] = load(r)
    return ClaimResults(claim, by_label)
