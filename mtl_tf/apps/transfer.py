"""mtl-transfer: transfer learning vs multi-task learning on a sweep of target-set sizes.

On one dataset with related tasks and one ``--target_task``, for each size n of
``--transfer_sizes`` (the target keeps n training labels; its test split is untouched), every
method gets the same budget of ``--pretrain_steps + --steps`` optimizer steps:

* ``scratch``: a model for the target task alone, all the steps on its n labels;
* ``finetune``: pre-trained ``--pretrain_steps`` on the other tasks (once per seed, shared by every
  n), its trunk reused with a new head and fine-tuned ``--steps`` on the n labels (``--finetune``,
  ``--trunk_lr_scale``, ``--finetune_head_steps``);
* ``multitask``: one model trained on every task at once, the target with its n labels.

Prints a table of the target's test metric (``--transfer_metric``; default the task kind's
headline metric) per size and method, averaged over ``--transfer_repeats`` seeds, the winner of
each size marked with ``*``, and writes it to ``RUN_DIR/transfer.json`` (with every seed's values)
and ``RUN_DIR/transfer.md``. Pre-training writes ``RUN_DIR/pretrain-seed<S>/`` (an mtl-train run
dir: a rerun resumes from its checkpoint, so use a new ``--run_dir`` after changing flags).

Example:
  mtl-transfer --flagfile=flags/transfer_sweep.flags
  python -m mtl_tf.transfer_experiment --flagfile=flags/transfer_sweep.flags   (same)
"""

import os

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads

import math  # noqa: E402
import statistics  # noqa: E402

from absl import flags  # noqa: E402

from mtl_tf import cli, impl, transfer  # noqa: E402
from mtl_tf.apps import train as train_app  # noqa: E402  (defines --dataset, --model, --steps, ...)
from mtl_tf.apps.config import from_flags  # noqa: E402
from mtl_tf.tasks import HEADLINE_METRIC, LOWER_IS_BETTER  # noqa: E402

FLAGS = flags.FLAGS
METHODS = ("scratch", "finetune", "multitask")

flags.DEFINE_list("transfer_sizes", ["32", "128", "512", "2048"],
                  "mtl-transfer: target-set sizes (training labels of --target_task) to sweep.")
flags.DEFINE_integer("pretrain_steps", 2000, "mtl-transfer: pre-training steps on the other tasks.", lower_bound=1)
flags.DEFINE_integer("transfer_repeats", 1, "mtl-transfer: repeat with seeds --seed, --seed+1, ... (data, "
                     "initialisation, sampling) and average.", lower_bound=1)
flags.DEFINE_string("transfer_metric", "", "mtl-transfer: the target's test metric to compare (e.g. auc, "
                    "accuracy, rmse); empty: the task kind's headline metric.")
flags.register_validator("transfer_sizes", lambda v: bool(v) and all(s.isdigit() and int(s) > 0 for s in v),
                         message="--transfer_sizes must be a comma-separated list of positive integers.")


def _config(settings, steps, seed, run_dir=None):
    """The sweep's ``TrainConfig``: the flags' (``--grad_method``'s step, ``--nan_policy``, ``--jit_compile``,
    ...), every task each step, no evaluation before the end, no progress bar."""
    return settings.train_config(steps=steps, tasks_per_step=None, seed=seed, eval_every=0, run_dir=run_dir,
                                 progress=False)


def _trained(settings, strategy, data, model, steps, seed, run_dir=None, finetune=False) -> dict:
    """Train ``model`` on ``data`` with the run's objective and gradient method under ``strategy``."""
    from mtl_tf.training import Trainer
    with strategy.scope():
        objective = settings.make_objective(data.tasks)
        grad_method = settings.make_grad_method(model, data.tasks, objective, seed=seed)
    config = _config(settings, steps, seed, run_dir)
    if finetune:
        return transfer.finetune(model, data, objective, config, settings.values, grad_method=grad_method,
                                 strategy=strategy)
    return Trainer(model, data, objective, config, grad_method=grad_method, strategy=strategy).fit()


def _train(settings, strategy, data, steps, seed, run_dir=None) -> dict:
    """Train a fresh ``--model`` on ``data`` (every task of it); the Trainer's results."""
    import keras
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = settings.build_model(data.input_shape, data.tasks, seed=seed)
    return _trained(settings, strategy, data, model, steps, seed, run_dir)


def _finetune(settings, strategy, data, source_tasks, pretrain_dir, seed) -> dict:
    import keras
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = transfer.pretrained_model(settings.values, data, source_tasks, run_dir=pretrain_dir)
    return _trained(settings, strategy, data, model, settings.train["steps"], seed, finetune=True)


def _one_seed(fv, settings, strategy, seed, run_dir, metric) -> dict:
    """{size: {method: target test metrics}} for one seed (data, initialisation and sampling)."""
    full = settings.load_data(seed)
    target = transfer.find_task(full, fv.target_task)
    source = [t for t in full.tasks if t.name != target.name]
    pretrain_dir = os.path.join(run_dir, f"pretrain-seed{seed}")
    total = fv.pretrain_steps + fv.steps
    _train(settings, strategy, transfer.select_tasks(full, [t.name for t in source]), fv.pretrain_steps, seed,
           pretrain_dir)
    out = {}
    for n in [int(s) for s in fv.transfer_sizes]:
        data = transfer.limit_labels(full, target.name, n, seed)
        only_target = transfer.select_tasks(data, [target.name])
        runs = {"scratch": _train(settings, strategy, only_target, total, seed),
                "finetune": _finetune(settings, strategy, only_target, source, pretrain_dir, seed),
                "multitask": _train(settings, strategy, data, total, seed)}
        out[str(n)] = {m: r["tasks"][target.name] for m, r in runs.items()}
        print(f"  seed {seed}, n={n}: " + "  ".join(
            f"{m} {metric}={out[str(n)][m].get(metric, float('nan')):.4f}" for m in METHODS), flush=True)
    return out


def sweep(fv=FLAGS) -> dict:
    """Run the comparison; returns {"target", "metric", "lower_is_better", "sizes", "results", ...}:
    ``results[size][method]`` holds the target's test metrics averaged over the seeds,
    ``per_seed[size][method][metric]`` each seed's value."""
    import tensorflow as tf
    from absl import logging
    tf.get_logger().setLevel("ERROR")
    logging.set_verbosity(logging.WARNING)  # checkpoint INFO lines
    settings = from_flags(fv)
    strategy = settings.make_strategy()   # first TF work (MultiWorkerMirrored needs that)
    impl.select(settings.impl)
    if not fv.target_task:
        raise transfer.TransferError("mtl-transfer needs --target_task (one task of --dataset).")
    full = settings.load_data()
    target = transfer.find_task(full, fv.target_task)
    source = [t for t in full.tasks if t.name != target.name]
    if not source:
        raise transfer.TransferError(f"dataset {full.name!r} has no task besides {target.name!r} to pre-train on.")
    have = int((full.train.masks[target.name] > 0).sum())
    too_big = [int(n) for n in fv.transfer_sizes if int(n) > have]
    if too_big:
        raise transfer.TransferError(f"--transfer_sizes {too_big} exceed the {have} training labels of {target.name!r}.")
    metric = fv.transfer_metric or HEADLINE_METRIC[target.kind]
    if metric not in LOWER_IS_BETTER:
        raise transfer.TransferError(f"--transfer_metric={metric!r} is not one of {sorted(LOWER_IS_BETTER)}.")
    run_dir = fv.run_dir or os.path.join("runs", f"transfer-{fv.dataset}-{target.name}-seed{fv.seed}")
    seeds = list(range(fv.seed, fv.seed + fv.transfer_repeats))
    print(f"mtl-transfer: {fv.model} on {full.name}, target {target.name} ({target.kind}), source "
          f"{', '.join(t.name for t in source)}; {fv.pretrain_steps} + {fv.steps} steps per method; "
          f"seeds {seeds} -> {run_dir}", flush=True)
    by_seed = [_one_seed(fv, settings, strategy, seed, run_dir, metric) for seed in seeds]
    sizes = [str(int(s)) for s in fv.transfer_sizes]
    per_seed = {n: {m: {k: [r[n][m].get(k) for r in by_seed] for k in by_seed[0][n][m]} for m in METHODS}
                for n in sizes}
    results = {n: {m: {k: _mean(v) for k, v in per_seed[n][m].items()} for m in METHODS} for n in sizes}
    summary = {"target": target.name, "kind": target.kind, "metric": metric,
               "lower_is_better": LOWER_IS_BETTER[metric], "sizes": [int(n) for n in sizes], "seeds": seeds,
               "methods": list(METHODS), "results": results, "per_seed": per_seed,
               "winners": winners(results, metric),
               "budget": {"scratch": f"{fv.pretrain_steps + fv.steps} steps on the target",
                          "finetune": f"{fv.pretrain_steps} pre-training steps + {fv.steps} fine-tuning steps",
                          "multitask": f"{fv.pretrain_steps + fv.steps} steps on every task"},
               "config": {"dataset": fv.dataset, "model": fv.model, "objective": fv.objective,
                          "grad_method": settings.grad_method, "strategy": settings.strategy,
                          "pretrain_steps": fv.pretrain_steps,
                          "steps": fv.steps, "finetune": fv.finetune, "trunk_lr_scale": fv.trunk_lr_scale,
                          "finetune_head_steps": fv.finetune_head_steps, "impl": impl.package_name()}}
    write(summary, run_dir)
    return summary


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(sum(values) / len(values)) if values else None


def winners(results: dict, metric: str) -> dict:
    """{size: the method with the best ``metric`` (ties: the first in METHODS)}."""
    sign = 1.0 if LOWER_IS_BETTER[metric] else -1.0
    out = {}
    for size, by_method in results.items():
        scored = [(sign * by_method[m][metric], i, m) for i, m in enumerate(METHODS)
                  if by_method[m].get(metric) is not None]
        out[size] = min(scored)[2] if scored else None
    return out


def table(summary: dict) -> str:
    """The result table in markdown: one row per size, one column per method (mean, and ± the
    standard deviation over seeds when there are several), the best mean marked *."""
    better = "lower" if summary["lower_is_better"] else "higher"
    seeds = summary["seeds"]
    lines = [f"Target {summary['target']}: test {summary['metric']} ({better} is better; * = best per size), "
             f"mean over {len(seeds)} seed(s) {seeds}", "",
             "Budget: " + "; ".join(f"{m}: {summary['budget'][m]}" for m in METHODS) + ".", "",
             "| target labels | " + " | ".join(METHODS) + " |", "|---:|" + "---:|" * len(METHODS)]
    for size in sorted(summary["results"], key=int):
        by_method = summary["results"][size]
        cells = []
        for m in METHODS:
            value = by_method[m].get(summary["metric"])
            mark = "*" if summary["winners"][size] == m else ""
            spread = [v for v in summary["per_seed"][size][m].get(summary["metric"], []) if v is not None]
            sd = f" ± {statistics.stdev(spread):.4f}" if len(spread) > 1 else ""
            cells.append("n/a" if value is None else f"{value:.4f}{mark}{sd}")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(summary: dict, run_dir: str) -> None:
    from mtl_tf.training.evaluation import to_json
    os.makedirs(run_dir, exist_ok=True)
    summary = dict(summary, table=table(summary))
    to_json(summary, os.path.join(run_dir, "transfer.json"))
    with open(os.path.join(run_dir, "transfer.md"), "w") as f:
        f.write(summary["table"] + "\n")
    with open(os.path.join(run_dir, "flags.txt"), "w") as f:
        f.write(train_app.flags_text(FLAGS))
    print("\n" + summary["table"])
    print(f"\nWrote {os.path.join(run_dir, 'transfer.json')} and transfer.md")


def run():
    """Run the ``mtl-transfer`` app (the console script goes through ``mtl_tf.entry.transfer``)."""
    cli.run_app("mtl-transfer", sweep, doc=__doc__, own_module="mtl_tf.apps.transfer")


if __name__ == "__main__":
    run()
