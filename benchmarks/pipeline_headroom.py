"""Input pipeline headroom: examples/s the task-sampled pipeline delivers vs what the step consumes.

Three sides, alternated within each repeat in one process (median reported):

* ``pipeline (in graph)``: the tf.data stream drained by ``Dataset.reduce`` (no Python per
  batch): what the pipeline can deliver to a step that takes its batch in the graph;
* ``pipeline (Python next)``: the same stream read by ``next(iterator)`` from Python, as a
  Python training loop does (adds the per-batch host cost of building the eager tensors);
* ``train step``: the compiled ``Trainer`` step on a batch already in memory (no input cost);
* ``floor: constant stream``: one batch repeated (``from_tensors(batch).repeat()``), drained in
  graph like the first side: the most any tf.data stream of this element can deliver through the
  same consumer, so ``pipeline / floor`` is the share of the consumer-limited ceiling reached.

Headroom = pipeline / step; the bar (issue 9) is >= 10x so training is never input-bound.

  python benchmarks/pipeline_headroom.py [--model=shared_bottom] [--dataset=...] [--repeats=5]
"""

import _bench  # noqa: F401  (repo on sys.path, TF log level)

import json  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines the model/data flags)
from mtl_tf.data import load_dataset  # noqa: E402
from mtl_tf.models import build_model  # noqa: E402
from mtl_tf.objectives import make_objective  # noqa: E402
from mtl_tf.training import TrainConfig, Trainer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 5, "Alternating repeats (median reported).")


def main(argv):
    del argv
    data = load_dataset(FLAGS.dataset, FLAGS, FLAGS.seed)
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    trainer = Trainer(model, data, make_objective("sum", data.tasks),
                      TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size,
                                  tasks_per_step=FLAGS.tasks_per_step, progress=False))
    examples = FLAGS.batch_size * trainer.tasks_per_step
    n = FLAGS.steps
    ds = trainer.dataset()
    batch = next(iter(ds))
    for _ in range(20):
        trainer._train_step(batch)
    count = tf.constant(0, tf.int64)
    constant = tf.data.Dataset.from_tensors(batch).repeat()

    def in_graph(stream=ds):
        stream.take(n).reduce(count, lambda c, _: c + 1).numpy()

    def python_next():   # a fresh iterator, like in_graph: no batches prefetched while the step ran
        fresh = iter(ds)
        for _ in range(n):
            b = next(fresh)
        b[0]["task"].numpy()

    def step():
        for _ in range(n):
            trainer._train_step(batch)
        trainer.step.numpy()   # waits for the last step

    sides = {"pipeline (in graph)": in_graph, "pipeline (Python next)": python_next, "train step (batch in memory)": step,
             "floor: constant stream": lambda: in_graph(constant)}
    rates = _bench.alternate({k: (lambda f=f: _bench.rate(f, n * examples)) for k, f in sides.items()}, FLAGS.repeats)
    med = _bench.medians(rates)
    s = med["train step (batch in memory)"]
    print(f"{'side':<32}{'examples/s (median)':>20}{'vs step':>9}   repeats")
    for name, v in med.items():
        print(f"{name:<32}{v:>20,.0f}{v / s:>8.1f}x   {', '.join(f'{r:,.0f}' for r in rates[name])}")
    print(json.dumps({"benchmark": "pipeline_headroom", "dataset": FLAGS.dataset, "model": FLAGS.model,
                      "batch": examples, "steps": n, "repeats": FLAGS.repeats,
                      "pipeline_in_graph_examples_per_s": round(med["pipeline (in graph)"]),
                      "pipeline_python_next_examples_per_s": round(med["pipeline (Python next)"]),
                      "step_examples_per_s": round(s),
                      "headroom": round(med["pipeline (in graph)"] / s, 2),
                      "headroom_python_next": round(med["pipeline (Python next)"] / s, 2),
                      "floor_examples_per_s": round(med["floor: constant stream"]),
                      "pipeline_over_floor": round(med["pipeline (in graph)"] / med["floor: constant stream"], 3),
                      **_bench.machine()}))


if __name__ == "__main__":
    FLAGS.set_default("steps", 1000)
    app.run(main)
