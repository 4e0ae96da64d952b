"""Input pipeline headroom: examples/s the task-sampled pipeline delivers vs what the step consumes.

Three sides, alternated within each repeat in one process (median reported):

* ``pipeline (in graph)``: the tf.data stream drained by ``Dataset.reduce`` (no Python per
  batch): what the pipeline can deliver to a step that takes its batch in the graph;
* ``pipeline (Python next)``: the same stream read by ``next(iterator)`` from Python, as a
  Python training loop does (adds the per-batch host cost of building the eager tensors);
* ``train loop (constant stream)``: what training consumes: ``Trainer._train_steps``, the
  in-graph loop of ``--steps_per_call`` steps per compiled call that ``Trainer.fit`` runs, fed by
  one batch repeated (no input cost beyond taking an element);
* ``train step (one per call)``: ``Trainer._train_step`` on a batch in memory, one step per call
  (the consumer the first rounds of this benchmark compared with; slower than the loop);
* ``train loop (pipeline)``: the same loop fed by the real pipeline: vs the constant-stream loop
  it says directly whether training is input-bound (prefetching overlaps the two);
* ``floor: constant stream``: one batch repeated (``from_tensors(batch).repeat()``), drained in
  graph like the first side: the most any tf.data stream of this element can deliver through the
  same consumer, so ``pipeline / floor`` is the share of the consumer-limited ceiling reached.

Headroom = pipeline / train loop (constant stream); the bar (issue 9) is >= 10x so training is
never input-bound.

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
                      TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size, steps_per_call=FLAGS.steps_per_call,
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

    constant_it = iter(constant)
    per_call = trainer.config.steps_per_call
    trainer._train_steps(constant_it, tf.constant(per_call, tf.int64))   # trace before timing

    def loop(iterator):
        def run():
            for _ in range(n // per_call):
                trainer._train_steps(iterator, tf.constant(per_call, tf.int64))
            trainer.step.numpy()   # waits for the last step
        return run
    pipeline_it = iter(ds)
    trainer._train_steps(pipeline_it, tf.constant(per_call, tf.int64))

    def step():
        for _ in range(n):
            trainer._train_step(batch)
        trainer.step.numpy()

    sides = {"pipeline (in graph)": in_graph, "pipeline (Python next)": python_next,
             "train loop (constant stream)": loop(constant_it), "train step (one per call)": step,
             "train loop (pipeline)": loop(pipeline_it), "floor: constant stream": lambda: in_graph(constant)}
    rates = _bench.alternate({k: (lambda f=f: _bench.rate(f, n * examples)) for k, f in sides.items()}, FLAGS.repeats)
    med = _bench.medians(rates)
    s = med["train loop (constant stream)"]
    print(f"{'side':<32}{'examples/s (median)':>20}{'vs loop':>9}   repeats")
    for name, v in med.items():
        print(f"{name:<32}{v:>20,.0f}{v / s:>8.1f}x   {', '.join(f'{r:,.0f}' for r in rates[name])}")
    print(json.dumps({"benchmark": "pipeline_headroom", "dataset": FLAGS.dataset, "model": FLAGS.model,
                      "batch": examples, "steps": n, "repeats": FLAGS.repeats,
                      "pipeline_in_graph_examples_per_s": round(med["pipeline (in graph)"]),
                      "pipeline_python_next_examples_per_s": round(med["pipeline (Python next)"]),
                      "train_loop_examples_per_s": round(s),
                      "steps_per_call": per_call,
                      "headroom": round(med["pipeline (in graph)"] / s, 2),
                      "headroom_vs_one_step_per_call": round(med["pipeline (in graph)"] / med["train step (one per call)"], 2),
                      "loop_fed_by_pipeline_vs_constant": round(med["train loop (pipeline)"] / s, 3),
                      "headroom_python_next": round(med["pipeline (Python next)"] / s, 2),
                      "floor_examples_per_s": round(med["floor: constant stream"]),
                      "pipeline_over_floor": round(med["pipeline (in graph)"] / med["floor: constant stream"], 3),
                      **_bench.machine()}))


if __name__ == "__main__":
    FLAGS.set_default("steps", 1000)
    app.run(main)
