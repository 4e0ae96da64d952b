"""Compare finished runs: one row per run, each task's headline test metric, Pareto-optimal marked.

A run is Pareto-optimal among those compared when no other run is at least as good on every
task and different (slide 18; the graded ``dominates`` / ``pareto_front``). Every headline
metric is lower-is-better (``mtl_tf.tasks.HEADLINE_METRIC``).

  python -m mtl_tf.training.compare runs/*/metrics.json
"""

import json
import os
import sys
from typing import List, Sequence

from mtl_tf import impl
from mtl_tf.tasks import HEADLINE_METRIC

_HEADLINES = sorted(set(HEADLINE_METRIC.values()))


def _headline(metrics: dict) -> float:
    for name in _HEADLINES:
        if name in metrics:
            return float(metrics[name])
    raise ValueError(f"no headline metric ({', '.join(_HEADLINES)}) among {sorted(metrics)}")


def compare_runs(paths: Sequence[str]) -> List[dict]:
    """[{"run", "metrics": {task: headline}, "pareto": bool}] for the metrics.json files in ``paths``.

    All runs must cover the same tasks (ValueError naming the odd one otherwise)."""
    runs = []
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        runs.append({"run": os.path.basename(os.path.dirname(os.path.abspath(path))) or path,
                     "metrics": {t: _headline(m) for t, m in sorted(results["tasks"].items())}})
    if not runs:
        return []
    tasks = list(runs[0]["metrics"])
    for r in runs:
        if list(r["metrics"]) != tasks:
            raise ValueError(f"run {r['run']!r} has tasks {list(r['metrics'])}, expected {tasks}: compare runs "
                             "on the same data.")
    front = impl.module("objectives").pareto_front([[r["metrics"][t] for t in tasks] for r in runs])
    for r, p in zip(runs, front):
        r["pareto"] = bool(p)
    return runs


def format_comparison(runs: List[dict]) -> str:
    """A plain-text table of ``compare_runs`` output; Pareto-optimal runs marked with '*'."""
    if not runs:
        return "(no runs)"
    tasks = list(runs[0]["metrics"])
    rows = [["run", *tasks, "pareto"]]
    rows += [[r["run"], *(f"{r['metrics'][t]:.4g}" for t in tasks), "*" if r["pareto"] else ""] for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([lines[0], "-" * max(len(line) for line in lines), *lines[1:]])


def main(argv=None) -> int:
    paths = (sys.argv[1:] if argv is None else argv)
    if not paths:
        sys.stderr.write("usage: python -m mtl_tf.training.compare runs/*/metrics.json\n")
        return 2
    try:
        print(format_comparison(compare_runs(paths)))
    except (OSError, ValueError, KeyError) as e:
        sys.stderr.write(f"compare: error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
