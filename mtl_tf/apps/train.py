"""mtl-train: train a multi-task model on one dataset and report per-task metrics.

With no flags it trains a shared-bottom network on the embedded correlated-regression data
(no download) in about a minute on a laptop CPU, prints a per-task metrics table next to a
predict-the-mean baseline, and writes ``runs/<configuration>/``: metrics.json, flags.txt
(replay with ``--flagfile``), TensorBoard summaries, checkpoints and ``model.keras``.

Examples:
  mtl-train
  mtl-train --flagfile=flags/default.flags --steps=500
  mtl-train --helpfull      # every flag with its allowed values
"""

import os

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads (``python -m mtl_tf.train`` too)

from absl import flags  # noqa: E402

from mtl_tf import cli, impl  # noqa: E402
from mtl_tf.apps import data_flags, model_flags, objective_flags, output_flags, training_flags  # noqa: E402,F401
from mtl_tf.apps.config import from_flags  # noqa: E402
from mtl_tf.errors import ConfigError  # noqa: E402,F401  (re-exported: mtl_tf.train.ConfigError)
from mtl_tf.export import export  # noqa: E402
from mtl_tf.training import distribute  # noqa: E402
from mtl_tf import ranking  # noqa: E402
from mtl_tf import transfer  # noqa: E402

FLAGS = flags.FLAGS


# Flags that change how a run is carried out but not what it trains: a run_dir whose flags.txt
# differs only in these resumes (--steps may grow to extend a finished run).
RESUMABLE_DIFFERENCES = ("run_dir", "quiet", "overwrite", "steps", "log_every", "eval_every", "checkpoint_every",
                         "steps_per_call",
                         "strategy", "tpu", "jit_compile", "nan_policy", "deterministic", "flagfile", "verbose")
# What a run writes into its run_dir (removed by --overwrite; nothing else is touched).
RUN_OUTPUTS = ("checkpoints", "tensorboard", "metrics.json", "flags.txt", "model.keras", "saved_model")


NAMED_IN_RUN_DIR = ("dataset", "model", "objective", "grad_method", "seed")


def _mtl_flags(fv):
    """Every mtl_tf flag of ``fv`` (dotted module name, or the script path when run with -m)."""
    for module, flag_list in sorted(fv.flags_by_module_dict().items()):
        if "mtl_tf" in module:
            yield from flag_list


def default_run_dir(fv=FLAGS) -> str:
    """``runs/<dataset>-<model>-<objective>[-<grad_method>]-seed<seed>[-<hash>]``: the hash (6 hex digits)
    covers every other flag that changes what is trained (not ``RESUMABLE_DIFFERENCES``) whose value is
    not its default, so two configurations never share a folder and the same command finds its run again."""
    import hashlib
    method = "" if fv.grad_method == "none" else f"-{fv.grad_method}"
    name = f"{fv.dataset}-{fv.model}-{fv.objective}{method}-seed{fv.seed}"
    changed = sorted({f.serialize() for f in _mtl_flags(fv) if f.value != f.default and f.name != "overwrite"
                      and f.name not in RESUMABLE_DIFFERENCES and f.name not in NAMED_IN_RUN_DIR})
    if changed:
        name += "-" + hashlib.sha1("\n".join(changed).encode()).hexdigest()[:6]
    return os.path.join("runs", name)


def flags_text(fv=FLAGS) -> str:
    """The mtl_tf flags of this run, one ``--name=value`` per line (replayable with --flagfile)."""
    lines = []
    for f in _mtl_flags(fv):
        if f.name == "overwrite":   # a replay must never wipe a run by itself
            continue
        s = f.serialize()
        if s:
            lines.append(s)
    return "\n".join(sorted(set(lines))) + "\n"


def config_lines(text: str) -> set:
    """The ``--name=value`` lines of a flags.txt that define what is trained (``RESUMABLE_DIFFERENCES`` dropped)."""
    lines = set()
    for line in text.splitlines():
        line = line.strip()
        name = line[2:].split("=", 1)[0]
        if not line.startswith("--") or name in RESUMABLE_DIFFERENCES or \
                (name.startswith("no") and name[2:] in RESUMABLE_DIFFERENCES):
            continue
        lines.add(line)
    return lines


def check_run_dir(run_dir: str, fv=FLAGS) -> None:
    """Before any work: a run_dir holding a run of another configuration is refused (ConfigError)
    unless ``--overwrite``, which removes that run's outputs; the same configuration resumes."""
    for parent in _parents(run_dir):
        if os.path.exists(parent) and not os.path.isdir(parent):
            what = "is a file" if parent == run_dir else f"is inside {parent}, which is a file"
            raise ConfigError(f"--run_dir={run_dir} {what}, not a folder; choose another --run_dir.")
    previous = os.path.join(run_dir, "flags.txt")
    if not os.path.exists(previous):
        return
    try:
        with open(previous) as f:
            old = config_lines(f.read())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--run_dir={run_dir}: cannot read its flags.txt ({e}); pass --overwrite or another "
                          "--run_dir.") from None
    new = config_lines(flags_text(fv))
    if fv.overwrite:
        import shutil
        for name in RUN_OUTPUTS:
            path = os.path.join(run_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        print(f"--overwrite: removed the previous run's outputs in {run_dir}")
        return
    if old != new:
        diff = ", ".join(sorted(new - old)[:4]) or "flags removed"
        was = ", ".join(sorted(old - new)[:4]) or "defaults"
        raise ConfigError(f"--run_dir={run_dir} holds a run of a different configuration (this run: {diff}; "
                          f"that run: {was}); pass --overwrite to replace it or choose another --run_dir.")


def _parents(path: str):
    """``path`` and the folders above it, innermost first."""
    path = os.path.normpath(path)
    while path and path not in (os.sep, "."):
        yield path
        path = os.path.dirname(path)


RECORD_KEYS = ("steps_per_second", "train_seconds", "traces")   # how the run was trained


def nothing_trained(results: dict, steps: int) -> bool:
    """Whether this invocation resumed a run that already had ``steps`` steps (so it trained none)."""
    resumed = results.get("resumed_from_step")
    return resumed is not None and resumed >= steps


def keep_record(results: dict, path: str, steps: int) -> None:
    """Re-running a finished run trains nothing: keep the speed, seconds and traces of the run that
    trained it (from its metrics.json at ``path``) instead of this invocation's zeros."""
    import json
    if not nothing_trained(results, steps) or not os.path.exists(path):
        return
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return
    for key in RECORD_KEYS:
        if key in old:
            results[key] = old[key]


def summary_line(results: dict, steps: int) -> str:
    """The line above the metrics table: steps and this invocation's training speed (or, when it had
    nothing left to train, that the run was finished and the speed it was trained at)."""
    skipped = f", {results['skipped_steps']} skipped" if results.get("skipped_steps") else ""
    if nothing_trained(results, steps):
        speed = results.get("steps_per_second")
        trained = f", trained at {speed:.0f} steps/s" if speed else ""
        return (f"Test metrics after {steps} steps (a finished run: nothing left to train{trained}{skipped}), "
                "baseline = predict the training mean:")
    return (f"Test metrics after {steps} steps ({results['steps_per_second']:.0f} steps/s{skipped}), "
            "baseline = predict the training mean:")


def extra_results(trainer, data, fv=FLAGS) -> dict:
    """A dict merged into metrics.json after the test evaluation. Data whose test split keeps
    query ids and the true relevance (the recommendation log) gets ranking metrics."""
    if ranking.can_evaluate(data.test):
        return {"ranking": ranking.evaluate_ranking_from_flags(trainer.model, data.tasks, data.test,
                                                               **from_flags(fv).ranking_options)}
    return {}


def run_training(fv=FLAGS) -> dict:
    """Train with the given flag values; returns the results dict written to metrics.json."""
    import keras
    from mtl_tf.training import Trainer
    from mtl_tf.training.evaluation import format_table, to_json

    import tensorflow as tf
    tf.get_logger().setLevel("WARNING")  # checkpoint INFO lines drown the progress bar
    run_dir = fv.run_dir or default_run_dir(fv)
    check_run_dir(run_dir, fv)
    settings = from_flags(fv)
    strategy = settings.make_strategy()  # first TF work (MultiWorkerMirrored needs that)
    impl.select(settings.impl)
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(fv.seed)   # Python, NumPy and TensorFlow's global seed
    tf.random.set_global_generator(tf.random.Generator.from_seed(fv.seed))   # checkpointed with the run
    data = settings.load_data()
    data, source_tasks = transfer.prepare(data, settings.values)  # --target_task, --target_examples, ...
    if fv.tasks_per_step is not None and fv.tasks_per_step > len(data.tasks):
        raise ConfigError(f"--tasks_per_step={fv.tasks_per_step} but dataset {fv.dataset!r} has only "
                          f"{len(data.tasks)} tasks ({', '.join(data.task_names)}).")
    with strategy.scope():
        model = (transfer.pretrained_model(settings.values, data, source_tasks) if fv.init_from
                 else settings.build_model(data.input_shape, data.tasks))
        objective = settings.make_objective(data.tasks)
        grad_method = settings.make_grad_method(model, data.tasks, objective)
    config = settings.train_config(run_dir=distribute.worker_run_dir(strategy, run_dir), progress=not fv.quiet)
    print(f"mtl-train: {fv.model} on {data.name} ({len(data.tasks)} tasks: "
          f"{', '.join(t.name + '/' + t.kind for t in data.tasks)}), objective {fv.objective}, "
          f"grad_method {fv.grad_method}, strategy {fv.strategy} ({strategy.num_replicas_in_sync} replica(s)), "
          f"impl {impl.package_name()}, {fv.steps} steps -> {run_dir}")
    trainer = Trainer(model, data, objective, config, grad_method=grad_method, strategy=strategy)
    chief = distribute.is_chief(strategy)   # on a multi-worker cluster only the chief writes the run
    os.makedirs(run_dir, exist_ok=True)
    if chief:
        with open(os.path.join(run_dir, "flags.txt"), "w") as f:
            f.write(flags_text(fv))
    results = (transfer.finetune(model, data, objective, config, settings.values, grad_method=grad_method,
                                 strategy=strategy)
               if fv.init_from else trainer.fit())
    results["config"] = {"dataset": fv.dataset, "model": fv.model, "objective": fv.objective,
                         "grad_method": fv.grad_method, "strategy": fv.strategy,
                         "data_mode": fv.data_mode, "seed": fv.seed, "impl": impl.package_name()}
    results.update(extra_results(trainer, data, fv))
    if not chief:
        return results
    keep_record(results, os.path.join(run_dir, "metrics.json"), fv.steps)
    to_json(results, os.path.join(run_dir, "metrics.json"))
    export(ranking.serving_model(model), data.tasks, run_dir)  # .keras + saved_model/; no position input
    print("\n" + summary_line(results, fv.steps))
    print(format_table(data.tasks, results["tasks"], results["baseline"]))
    if "ranking" in results:
        print(ranking.format_ranking(results["ranking"]))
    worse = [n for n, ok in results["beats_baseline"].items() if not ok]
    print("Every task beats the baseline." if not worse else f"Not better than the baseline: {', '.join(worse)}")
    print(f"Wrote {os.path.join(run_dir, 'metrics.json')}; TensorBoard: tensorboard --logdir {run_dir}")
    return results


main = cli.make_main("mtl-train", run_training)


def run():
    """Run the ``mtl-train`` app (the console script goes through ``mtl_tf.entry.train``)."""
    cli.run_app("mtl-train", run_training, doc=__doc__, own_module="mtl_tf.apps.train")


if __name__ == "__main__":
    run()
