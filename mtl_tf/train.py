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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

from absl import app, flags  # noqa: E402

from mtl_tf import impl  # noqa: E402
from mtl_tf.data import DATASETS, DataError, load_dataset  # noqa: E402
from mtl_tf.gradients import make_grad_method  # noqa: E402  (defines --grad_method and its flags)
from mtl_tf.models import BUILDERS, build_model  # noqa: E402
from mtl_tf.objectives import OBJECTIVES, make_objective  # noqa: E402
from mtl_tf.export import export  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_enum("dataset", "correlated_regression", sorted(DATASETS), "Which task source to train on.")
flags.DEFINE_enum("model", "shared_bottom", sorted(BUILDERS), "Which architecture builder to use.")
flags.DEFINE_enum("objective", "sum", sorted(OBJECTIVES), "How the per-task losses become one scalar.")
flags.DEFINE_enum("data_mode", "task_sampled", ["task_sampled", "joint"],
                  "task_sampled: each step samples --tasks_per_step tasks uniformly, --batch_size examples "
                  "each (slide 20); joint: multi-label batches with every present label.")
flags.DEFINE_integer("steps", 3000, "Training steps.", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Examples per sampled task per step.", lower_bound=1)
flags.DEFINE_integer("tasks_per_step", None, "Tasks sampled per step, 1..T (default: all tasks).", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (> 0).")
flags.register_validator("learning_rate", lambda v: v > 0, message="--learning_rate must be > 0.")
flags.DEFINE_integer("seed", 0, "Seed for data generation, initialization and sampling.", lower_bound=0)
flags.DEFINE_string("run_dir", None, "Output folder (default: runs/<dataset>-<model>-<objective>-seed<seed>).")
flags.DEFINE_enum("impl", "auto", list(impl.CHOICES),
                  "Implementation of the graded pieces: solutions, homework, or auto (solutions if present).")
flags.DEFINE_integer("eval_every", 1000, "Evaluate on the validation split every N steps (0: only at the end).",
                     lower_bound=0)
flags.DEFINE_integer("log_every", 50, "Update the progress bar and summaries every N steps.", lower_bound=1)
flags.DEFINE_bool("standardize_labels", True, "Standardize regression labels per task (slide 20's tip).")
flags.DEFINE_bool("quiet", False, "No progress bar.")


class ConfigError(ValueError):
    """A flag combination that cannot work with the chosen data."""


def default_run_dir(fv=FLAGS) -> str:
    method = "" if fv.grad_method == "none" else f"-{fv.grad_method}"
    return os.path.join("runs", f"{fv.dataset}-{fv.model}-{fv.objective}{method}-seed{fv.seed}")


def flags_text(fv=FLAGS) -> str:
    """The mtl_tf flags of this run, one ``--name=value`` per line (replayable with --flagfile)."""
    lines = []
    for module, flag_list in sorted(fv.flags_by_module_dict().items()):
        if "mtl_tf" in module:  # dotted name, or the script path when run with -m
            for f in sorted(flag_list, key=lambda f: f.name):
                s = f.serialize()
                if s:
                    lines.append(s)
    return "\n".join(sorted(set(lines))) + "\n"


def run_training(fv=FLAGS) -> dict:
    """Train with the given flag values; returns the results dict written to metrics.json."""
    import keras
    from mtl_tf.training import TrainConfig, Trainer
    from mtl_tf.training.evaluation import format_table, to_json

    import tensorflow as tf
    tf.get_logger().setLevel("WARNING")  # checkpoint INFO lines drown the progress bar
    impl.select(fv.impl)
    keras.utils.set_random_seed(fv.seed)
    data = load_dataset(fv.dataset, fv, fv.seed, standardize_labels=fv.standardize_labels)
    if fv.tasks_per_step is not None and fv.tasks_per_step > len(data.tasks):
        raise ConfigError(f"--tasks_per_step={fv.tasks_per_step} but dataset {fv.dataset!r} has only "
                          f"{len(data.tasks)} tasks ({', '.join(data.task_names)}).")
    model = build_model(fv.model, data.input_shape, data.tasks, fv)
    objective = make_objective(fv.objective, data.tasks, fv)
    grad_method = make_grad_method(fv.grad_method, model, data.tasks, objective, fv, seed=fv.seed)
    run_dir = fv.run_dir or default_run_dir(fv)
    config = TrainConfig(steps=fv.steps, batch_size=fv.batch_size, tasks_per_step=fv.tasks_per_step,
                         learning_rate=fv.learning_rate, seed=fv.seed, eval_every=fv.eval_every,
                         log_every=fv.log_every, data_mode=fv.data_mode, task_sampling=fv.task_sampling,
                         run_dir=run_dir,
                         progress=not fv.quiet)
    print(f"mtl-train: {fv.model} on {data.name} ({len(data.tasks)} tasks: "
          f"{', '.join(t.name + '/' + t.kind for t in data.tasks)}), objective {fv.objective}, "
          f"grad_method {fv.grad_method}, "
          f"impl {impl.package_name()}, {fv.steps} steps -> {run_dir}")
    trainer = Trainer(model, data, objective, config, grad_method=grad_method)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "flags.txt"), "w") as f:
        f.write(flags_text(fv))
    results = trainer.fit()
    results["config"] = {"dataset": fv.dataset, "model": fv.model, "objective": fv.objective,
                         "grad_method": fv.grad_method,
                         "data_mode": fv.data_mode, "seed": fv.seed, "impl": impl.package_name()}
    to_json(results, os.path.join(run_dir, "metrics.json"))
    export(model, data.tasks, run_dir)  # model.keras + saved_model/ (serving signature)
    print(f"\nTest metrics after {fv.steps} steps ({results['steps_per_second']:.0f} steps/s), "
          "baseline = predict the training mean:")
    print(format_table(data.tasks, results["tasks"], results["baseline"]))
    worse = [n for n, ok in results["beats_baseline"].items() if not ok]
    print("Every task beats the baseline." if not worse else f"Not better than the baseline: {', '.join(worse)}")
    print(f"Wrote {os.path.join(run_dir, 'metrics.json')}; TensorBoard: tensorboard --logdir {run_dir}")
    return results


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from mtl_tf.training import TrainingError
    try:
        run_training(FLAGS)
    except (ConfigError, DataError, ValueError) as e:
        _fail(str(e), 2)
    except TrainingError as e:
        _fail(str(e), 1)
    except NotImplementedError as e:
        _fail(f"{e} (fill in the TODO in homework/, or use --impl=solutions)", 1)


def _fail(message: str, code: int):
    sys.stderr.write(f"mtl-train: error: {message}\n")
    sys.exit(code)


def _parse_flags(argv):
    """Parse flags; a bad value is one line naming the flag and what is allowed, then exit 2."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        _fail(f"{e} (mtl-train --helpfull lists every flag)", 2)


def run():
    """Console-script entry point."""
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
