"""Compiled task-sampled step vs keras Model.fit: steps/s on the same model, data and batch.

Both sides train the same architecture (fresh copy, same seed) on the same task-sampled
tf.data stream; fit uses one loss per output with the task masks as sample weights, which is
the same masked objective. Runs alternate A/B for several repeats in one process; the table
shows medians and the last line is JSON with the ratio.

  python benchmarks/step_vs_fit.py [--model=shared_bottom] [--steps=300] [--repeats=3]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from mtl_tf.data import load_dataset  # noqa: E402
from mtl_tf.models import build_model  # noqa: E402
from mtl_tf.objectives import make_objective  # noqa: E402
from mtl_tf.training import TrainConfig, Trainer  # noqa: E402
import mtl_tf.train  # noqa: E402,F401  (defines the model/data flags)

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 3, "A/B repeats (median reported).")
flags.DEFINE_integer("warmup", 20, "Untimed steps before timing (tracing, pipeline warm-up).")


def time_custom_step(data, steps):
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    config = TrainConfig(steps=steps, batch_size=FLAGS.batch_size, progress=False)
    trainer = Trainer(model, data, make_objective("sum", data.tasks), config)
    it = iter(trainer.dataset())
    for _ in range(FLAGS.warmup):
        trainer._train_step(next(it))
    start = time.perf_counter()
    for _ in range(steps):
        out = trainer._train_step(next(it))
    float(out["loss"])
    return steps / (time.perf_counter() - start)


def time_fit(data, steps):
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    losses = {t.name: (lambda t: lambda y, p: t.loss(y, p))(t) for t in data.tasks}
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses)
    config = TrainConfig(steps=steps, batch_size=FLAGS.batch_size, progress=False)
    ds = Trainer(model, data, make_objective("sum", data.tasks), config).dataset()
    ds = ds.map(lambda f, y, m: (f, y, m))
    model.fit(ds, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps / (time.perf_counter() - start)


def main(argv):
    del argv
    data = load_dataset(FLAGS.dataset, FLAGS, FLAGS.seed)
    steps = FLAGS.steps
    custom, fit = [], []
    for _ in range(FLAGS.repeats):
        custom.append(time_custom_step(data, steps))
        fit.append(time_fit(data, steps))
    c, f = statistics.median(custom), statistics.median(fit)
    print(f"{'method':<22}{'steps/s (median)':>18}   repeats")
    print(f"{'compiled custom step':<22}{c:>18.1f}   {', '.join(f'{v:.0f}' for v in custom)}")
    print(f"{'keras Model.fit':<22}{f:>18.1f}   {', '.join(f'{v:.0f}' for v in fit)}")
    print(json.dumps({"benchmark": "step_vs_fit", "model": FLAGS.model, "dataset": FLAGS.dataset,
                      "batch": FLAGS.batch_size * len(data.tasks), "steps": steps,
                      "custom_steps_per_s": round(c, 1), "fit_steps_per_s": round(f, 1),
                      "ratio_custom_over_fit": round(c / f, 3), "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    FLAGS.set_default("steps", 500)
    app.run(main)
