"""Gradient-method overhead vs the plain sum, for T tasks on a shared MLP trunk with per-task heads.

For each T in ``--task_counts`` (synthetic regression: x [N, 100], task t's label a random linear
function of x plus noise; every example labelled for every task, so all T tasks are sampled each
step), every side is a fresh ``shared_bottom`` (``build_model``, same seed) trained by
``Trainer`` on the same stream, ``--steps`` steps per repeat, repeats alternated:

* ``sum``: objective sum, grad_method none (one backward pass of the summed loss);
* ``pcgrad``, ``mgda``, ``mgda_ub``, ``cagrad``: objective sum with that ``--grad_method``;
* ``gradnorm``: objective gradnorm, grad_method none;
* ``forward``: a compiled forward pass + masked task losses only (no backward, no update).

Reported: each side's step time / sum's. For methods on full parameter gradients (pcgrad, mgda,
cagrad) the cost per extra task is (t_method - t_sum) / T, in units of one backward pass
t_bwd = t_sum - t_forward; the bar (issue 9): <= 1 backward pass per task. MGDA-UB's bar:
t_mgda_ub <= 1.3 t_sum at T = 20.

  python benchmarks/grad_methods.py [--task_counts=2,8,20] [--steps=100] [--repeats=3] [--methods=mgda_ub]
"""

import _bench  # noqa: F401  (repo on sys.path, TF log level)

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines the model/data flags)
from mtl_tf import gradients  # noqa: E402
from mtl_tf.data import standardize  # noqa: E402
from mtl_tf.data.base import MultiTaskData, Split  # noqa: E402
from mtl_tf.models import build_model  # noqa: E402
from mtl_tf.objectives import make_objective  # noqa: E402
from mtl_tf.tasks import Task  # noqa: E402
from mtl_tf.training import TrainConfig, Trainer  # noqa: E402
from mtl_tf.gradients import task_losses  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 3, "A/B repeats (median reported).")
flags.DEFINE_integer("warmup", 5, "Untimed steps per side before timing (tracing, pipeline warm-up).")
flags.DEFINE_list("task_counts", ["2", "8", "20"], "Task counts T.")
flags.DEFINE_list("methods", [], "Only these sides (e.g. mgda_ub,pcgrad); empty: all. The sum and the forward "
                  "pass are always measured.")

SIDES = (("sum", "none"), ("sum", "pcgrad"), ("sum", "mgda"), ("sum", "mgda_ub"), ("sum", "cagrad"),
         ("gradnorm", "none"))
FULL_GRADIENT = ("pcgrad", "mgda", "cagrad")


def synthetic(num_tasks: int, n: int = 4000, dim: int = 100, seed: int = 0) -> MultiTaskData:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    w = rng.standard_normal((dim, num_tasks)) / np.sqrt(dim)
    y = (x @ w + 0.1 * rng.standard_normal((n, num_tasks))).astype(np.float32)
    tasks = [Task(f"t{i}", "regression") for i in range(num_tasks)]
    split = Split({"x": x}, {t.name: y[:, i] for i, t in enumerate(tasks)},
                  {t.name: np.ones(n, np.float32) for t in tasks})
    return standardize(MultiTaskData(f"synthetic_{num_tasks}", tasks, split, split, split))


def _timed(step, sync):
    for _ in range(FLAGS.warmup):
        step()
    sync()

    def run():
        return _bench.rate(lambda: ([step() for _ in range(FLAGS.steps)], sync()), FLAGS.steps)
    return run


def step_side(data, objective_name, method):
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    objective = make_objective(objective_name, data.tasks)
    gm = gradients.make_grad_method(method, model, data.tasks, objective)
    trainer = Trainer(model, data, objective, TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size,
                                                          progress=False), grad_method=gm)
    it = iter(trainer.dataset())
    return _timed(lambda: trainer._train_step(next(it)), trainer.step.numpy)


def forward_side(data):
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    trainer = Trainer(model, data, make_objective("sum", data.tasks), TrainConfig(batch_size=FLAGS.batch_size,
                                                                                  progress=False))
    it = iter(trainer.dataset())
    out = tf.Variable(0.0)

    @tf.function
    def forward(batch):
        features, labels, masks = batch
        losses, _ = task_losses(model(features, training=True), data.tasks, labels, masks)
        out.assign(tf.reduce_sum(losses))
    return _timed(lambda: forward(next(it)), out.numpy)


def main(argv):
    del argv
    report = {"benchmark": "grad_methods", "model": "shared_bottom", "hidden_units": FLAGS.hidden_units,
              "batch_per_task": FLAGS.batch_size, "steps": FLAGS.steps, "repeats": FLAGS.repeats, "T": {}}
    for t in [int(v) for v in FLAGS.task_counts]:
        data = synthetic(t)
        chosen = [(o, m) for o, m in SIDES if m == "none" and o == "sum" or not FLAGS.methods
                  or (m if m != "none" else o) in FLAGS.methods]
        sides = {f"{o}/{m}": step_side(data, o, m) for o, m in chosen}
        sides["forward"] = forward_side(data)
        med = _bench.medians(_bench.alternate(sides, FLAGS.repeats))
        seconds = {k: 1.0 / v for k, v in med.items()}
        base, bwd = seconds["sum/none"], seconds["sum/none"] - seconds["forward"]
        print(f"\nT = {t} tasks, batch {FLAGS.batch_size} x {t}: sum step {1e3 * base:.2f} ms, "
              f"forward {1e3 * seconds['forward']:.2f} ms, one backward pass ~{1e3 * bwd:.2f} ms")
        print(f"{'side':<18}{'ms/step':>9}{'vs sum':>8}{'per extra task (backward passes)':>34}")
        row = {}
        for name, s in seconds.items():
            per_task = (s - base) / t / bwd if bwd > 0 else float("nan")
            show = f"{per_task:>34.2f}" if name.split("/")[-1] in FULL_GRADIENT else f"{'':>34}"
            print(f"{name:<18}{1e3 * s:>9.2f}{s / base:>7.2f}x{show}")
            row[name] = {"ms": round(1e3 * s, 3), "vs_sum": round(s / base, 3)}
            if name.split("/")[-1] in FULL_GRADIENT:
                row[name]["backward_passes_per_extra_task"] = round(per_task, 3)
        report["T"][t] = row
    last = report["T"].get(20)
    if last and "sum/mgda_ub" in last:
        report["mgda_ub_vs_sum_at_T20"] = last["sum/mgda_ub"]["vs_sum"]
        report["mgda_ub_bar_1.3x_met"] = last["sum/mgda_ub"]["vs_sum"] <= 1.3
    report["full_gradient_bar_met"] = all(r[f"sum/{m}"]["backward_passes_per_extra_task"] <= 1.0
                                          for r in report["T"].values() for m in FULL_GRADIENT
                                          if f"sum/{m}" in r)
    print(json.dumps({**report, **_bench.machine()}))


if __name__ == "__main__":
    FLAGS.set_default("steps", 100)
    app.run(main)
