"""Input pipeline headroom: examples/s the task-sampled pipeline delivers vs what the step consumes.

Measures, in one process and alternating, (a) iterating the tf.data stream alone and (b) the
compiled train step on a batch already in memory (no input cost). Headroom = (a) / (b); the bar
(issue 9) is >= 10x so training is never input-bound.

  python benchmarks/pipeline_headroom.py [--model=shared_bottom] [--dataset=...] [--repeats=3]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines the model/data flags)
from mtl_tf.data import load_dataset  # noqa: E402
from mtl_tf.models import build_model  # noqa: E402
from mtl_tf.objectives import make_objective  # noqa: E402
from mtl_tf.training import TrainConfig, Trainer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 3, "Alternating repeats (median reported).")


def main(argv):
    del argv
    data = load_dataset(FLAGS.dataset, FLAGS, FLAGS.seed)
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    trainer = Trainer(model, data, make_objective("sum", data.tasks),
                      TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size,
                                  tasks_per_step=FLAGS.tasks_per_step, progress=False))
    batch_examples = FLAGS.batch_size * trainer.tasks_per_step
    it = iter(trainer.dataset())
    batch = next(it)
    for _ in range(20):
        trainer._train_step(batch)
    pipe, step = [], []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        for _ in range(FLAGS.steps):
            b = next(it)
        b[0]["x"].numpy()
        pipe.append(FLAGS.steps * batch_examples / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(FLAGS.steps):
            out = trainer._train_step(batch)
        float(out["loss"])
        step.append(FLAGS.steps * batch_examples / (time.perf_counter() - start))
    p, s = statistics.median(pipe), statistics.median(step)
    print(f"{'side':<28}{'examples/s (median)':>20}")
    print(f"{'pipeline alone':<28}{p:>20,.0f}")
    print(f"{'train step (batch in memory)':<28}{s:>20,.0f}")
    print(json.dumps({"benchmark": "pipeline_headroom", "dataset": FLAGS.dataset, "model": FLAGS.model,
                      "batch": batch_examples, "pipeline_examples_per_s": round(p),
                      "step_examples_per_s": round(s), "headroom": round(p / s, 2)}))


if __name__ == "__main__":
    FLAGS.set_default("steps", 1000)
    app.run(main)
