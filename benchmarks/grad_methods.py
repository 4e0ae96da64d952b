"""Per-task gradients (loop over a persistent tape vs tape.jacobian) and the cost of each method.

Part 1 times the compiled [T, P] per-task gradient matrix of the shared variables of a
shared-bottom model, both ways, for several task counts T (synthetic regression tasks, same
model and batch for both). Part 2 times the full compiled train step (Trainer._train_step) on the
embedded correlated-regression data for every --grad_method (objective sum) and every
--objective (grad_method none), relative to sum/none. Runs alternate within each repeat; the
table shows medians and the last line is JSON.

  python benchmarks/grad_methods.py [--steps=200] [--repeats=3] [--task_counts=2,4,8]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines the model/data flags)
from mtl_tf import gradients  # noqa: E402
from mtl_tf.data import load_dataset  # noqa: E402
from mtl_tf.models import build_model, split_variables  # noqa: E402
from mtl_tf.objectives import make_objective  # noqa: E402
from mtl_tf.tasks import Task  # noqa: E402
from mtl_tf.training import TrainConfig, Trainer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 3, "A/B repeats (median reported).")
flags.DEFINE_integer("warmup", 10, "Untimed calls before timing (tracing, pipeline warm-up).")
flags.DEFINE_list("task_counts", ["2", "4", "8"], "Task counts T for the jacobian-vs-loop part.")

MODES = ("loop", "jacobian")


def jacobian_fn(num_tasks, mode):
    """A compiled fn(x, y) -> [T, P] per-task gradients of a fresh shared-bottom model."""
    keras.utils.set_random_seed(0)
    tasks = [Task(f"t{i}", "regression") for i in range(num_tasks)]
    model = build_model(FLAGS.model, (100,), tasks)
    shared, _ = split_variables(model, tasks)

    @tf.function
    def fn(x, y):
        with tf.GradientTape(persistent=True) as tape:
            out = model({"x": x, "task": tf.zeros([tf.shape(x)[0]], tf.int32)}, training=True)
            losses = tf.stack([t.loss(y[:, i], out[t.name]) for i, t in enumerate(tasks)], axis=1)
            losses = tf.reduce_mean(losses, axis=0)
        return gradients.task_jacobian(tape, losses, shared, mode)
    return fn


def time_calls(fn, args, calls):
    for _ in range(FLAGS.warmup):
        fn(*args)
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(*args)
    float(tf.reduce_sum(out))
    return calls / (time.perf_counter() - start)


def time_step(data, objective, method):
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    obj = make_objective(objective, data.tasks)
    gm = gradients.make_grad_method(method, model, data.tasks, obj)
    trainer = Trainer(model, data, obj, TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size, progress=False),
                      grad_method=gm)
    it = iter(trainer.dataset())
    for _ in range(FLAGS.warmup):
        trainer._train_step(next(it))
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        out = trainer._train_step(next(it))
    float(out["loss"])
    return FLAGS.steps / (time.perf_counter() - start)


def main(argv):
    del argv
    report = {"benchmark": "grad_methods", "model": FLAGS.model, "batch_per_task": FLAGS.batch_size,
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU"}
    rng = np.random.default_rng(0)
    print(f"{'per-task gradients':<24}{'loop calls/s':>14}{'jacobian calls/s':>18}{'loop/jacobian':>15}")
    report["jacobian_vs_loop"] = {}
    for t in [int(v) for v in FLAGS.task_counts]:
        b = FLAGS.batch_size * t
        args = (tf.constant(rng.normal(size=(b, 100)), tf.float32), tf.constant(rng.normal(size=(b, t)), tf.float32))
        fns = {m: jacobian_fn(t, m) for m in MODES}
        rates = {m: [] for m in MODES}
        for _ in range(FLAGS.repeats):
            for m in MODES:
                rates[m].append(time_calls(fns[m], args, FLAGS.steps))
        med = {m: statistics.median(v) for m, v in rates.items()}
        print(f"{'T=' + str(t) + ', batch ' + str(b):<24}{med['loop']:>14.1f}{med['jacobian']:>18.1f}"
              f"{med['loop'] / med['jacobian']:>15.2f}")
        report["jacobian_vs_loop"][t] = {"loop": round(med["loop"], 1), "jacobian": round(med["jacobian"], 1)}

    data = load_dataset(FLAGS.dataset, FLAGS, FLAGS.seed)
    configs = [("sum", m) for m in gradients.GRAD_METHODS] + \
              [(o, "none") for o in ("uncertainty", "dwa", "gradnorm", "minmax")]
    rates = {c: [] for c in configs}
    for _ in range(FLAGS.repeats):
        for c in configs:
            rates[c].append(time_step(data, *c))
    base = statistics.median(rates[("sum", "none")])
    print(f"\n{'objective / grad_method':<26}{'steps/s':>10}{'time vs sum/none':>18}")
    report["steps_per_s"] = {}
    for c in configs:
        med = statistics.median(rates[c])
        print(f"{c[0] + ' / ' + c[1]:<26}{med:>10.1f}{base / med:>17.2f}x")
        report["steps_per_s"][f"{c[0]}/{c[1]}"] = round(med, 1)
    report["jacobian_mode_kept"] = gradients.JACOBIAN_MODE
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
