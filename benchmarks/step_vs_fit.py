"""Compiled task-sampled step vs keras Model.fit: steps/s on the same model, data and batch.

For each configuration (``--configs``: model/dataset/backbone), five sides train fresh copies of
the same architecture (``mtl_tf.models.build_model``, same seed) on the same task-sampled
``Trainer.dataset()`` stream:

* ``Trainer step``: ``Trainer._train_step(next(iterator))`` from Python, one step per call (what
  ``Trainer.fit`` does under a non-default strategy);
* ``Trainer loop``: ``Trainer._train_steps``, ``--steps_per_call`` steps per compiled call with
  ``next(iterator)`` in the graph (what ``Trainer.fit`` does on one device);
* ``..., XLA``: the same with ``TrainConfig(jit_compile=True)`` (issue 9's optional XLA);
* ``Model.fit``: one loss per output with the task masks as sample weights (the same masked
  objective), timed from each epoch's begin to its end (fit's setup not counted);
* ``MultiTaskModel.fit``: ``mtl_tf.training.keras_fit.MultiTaskModel`` (the Trainer's step inside
  Keras's ``fit`` loop, with its per-task metrics), timed the same way.

Each side keeps its model, optimizer and iterator; repeats alternate the sides (``--steps``
steps each) in one process and the table shows medians. The last line is JSON with the ratios.

  python benchmarks/step_vs_fit.py [--configs=mmoe/correlated_regression/mlp,multi_head/images/conv]
                                   [--steps=300] [--repeats=5]
"""

import _bench  # noqa: F401  (repo on sys.path, TF log level)

import json  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from absl.testing import flagsaver  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines the model/data flags)
from mtl_tf.data import load_dataset  # noqa: E402
from mtl_tf.models import build_model  # noqa: E402
from mtl_tf.objectives import make_objective  # noqa: E402
from mtl_tf.training import TrainConfig, Trainer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 5, "A/B repeats (median reported).")
flags.DEFINE_integer("warmup", 20, "Untimed steps per side before timing (tracing, pipeline warm-up).")
flags.DEFINE_list("configs", ["mmoe/correlated_regression/mlp", "multi_head/images/conv"],
                  "model/dataset/backbone triples to compare.")
flags.DEFINE_bool("xla", True, "Also time the step with jit_compile=True.")


def trainer_side(data, jit_compile: bool, per_call: int = 1):
    """() -> steps/s of the next ``--steps`` Trainer steps (fresh model; traced during warm-up).

    per_call 1: one compiled call per step, the batch's tensors handed over from Python (what the
    Trainer does under a non-default strategy); per_call > 1: the Trainer's in-graph loop
    (``Trainer._train_steps``: ``per_call`` steps per call, ``next(iterator)`` inside the graph)."""
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    config = TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size, progress=False, jit_compile=jit_compile)
    trainer = Trainer(model, data, make_objective("sum", data.tasks), config)
    it = iter(trainer.dataset())
    if per_call > 1:
        n = tf.constant(per_call, tf.int64)
        step = lambda: trainer._train_steps(it, n)  # noqa: E731
    else:
        step = lambda: trainer._train_step(next(it))  # noqa: E731
    for _ in range(max(1, FLAGS.warmup // per_call)):
        step()
    trainer.step.numpy()

    def run():
        start = time.perf_counter()
        for _ in range(FLAGS.steps // per_call):
            step()
        trainer.step.numpy()   # waits for the last step
        return FLAGS.steps // per_call * per_call / (time.perf_counter() - start)
    return run


class _EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def _fit_epochs(fitted, model, data):
    """() -> steps/s of one ``fitted.fit`` epoch of ``--steps`` steps on the Trainer's stream for
    ``model`` (``fitted``: a compiled keras model wrapping or equal to ``model``; warmed up here)."""
    config = TrainConfig(steps=FLAGS.steps, batch_size=FLAGS.batch_size, progress=False)
    ds = Trainer(model, data, make_objective("sum", data.tasks), config).dataset()
    fitted.fit(ds, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
    timer = _EpochTimer()

    def run():
        fitted.fit(ds, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0, callbacks=[timer])
        return FLAGS.steps / timer.seconds
    return run


def fit_side(data):
    """() -> steps/s of one ``Model.fit`` epoch of ``--steps`` steps on the same stream."""
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={t.name: (lambda t: lambda y, p: t.loss(y, p))(t) for t in data.tasks})
    return _fit_epochs(model, model, data)


def mtl_fit_side(data):
    """() -> steps/s of one ``MultiTaskModel.fit`` epoch of ``--steps`` steps on the same stream."""
    from mtl_tf.training.keras_fit import MultiTaskModel
    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.model, data.input_shape, data.tasks)
    mt = MultiTaskModel(model, data.tasks, objective="sum")
    mt.compile(optimizer=keras.optimizers.Adam(1e-3))
    return _fit_epochs(mt, model, data)


def compare(model: str, dataset: str, backbone: str) -> dict:
    with flagsaver.flagsaver(model=model, dataset=dataset, backbone=backbone):
        data = load_dataset(FLAGS.dataset, FLAGS, FLAGS.seed)
        per_call = FLAGS.steps_per_call
        sides = {"Trainer step": trainer_side(data, False),
                 "Trainer loop": trainer_side(data, False, per_call)}
        if FLAGS.xla:
            sides["Trainer step, XLA"] = trainer_side(data, True)
            sides["Trainer loop, XLA"] = trainer_side(data, True, per_call)
        sides["Model.fit"] = fit_side(data)
        sides["MultiTaskModel.fit"] = mtl_fit_side(data)
        rates = _bench.alternate(sides, FLAGS.repeats)
    med = _bench.medians(rates)
    print(f"\n{model} ({backbone}) on {dataset}, batch {FLAGS.batch_size} x {len(data.tasks)} tasks")
    print(f"{'side':<24}{'steps/s (median)':>18}{'vs fit':>8}   repeats")
    for name, v in med.items():
        print(f"{name:<24}{v:>18.1f}{v / med['Model.fit']:>7.2f}x   {', '.join(f'{r:.0f}' for r in rates[name])}")
    out = {"model": model, "dataset": dataset, "backbone": backbone, "batch": FLAGS.batch_size * len(data.tasks),
           "steps_per_s": {k: round(v, 1) for k, v in med.items()},
           "ratio_step_over_fit": round(med["Trainer step"] / med["Model.fit"], 3),
           "steps_per_call": per_call,
           "ratio_loop_over_fit": round(med["Trainer loop"] / med["Model.fit"], 3),
           "ratio_mtl_fit_over_step": round(med["MultiTaskModel.fit"] / med["Trainer step"], 3)}
    if FLAGS.xla:
        out["ratio_xla_over_step"] = round(med["Trainer step, XLA"] / med["Trainer step"], 3)
        out["ratio_xla_loop_over_fit"] = round(med["Trainer loop, XLA"] / med["Model.fit"], 3)
    return out


def main(argv):
    del argv
    results = [compare(*c.split("/")) for c in FLAGS.configs]
    print(json.dumps({"benchmark": "step_vs_fit", "steps": FLAGS.steps, "repeats": FLAGS.repeats,
                      "results": results, **_bench.machine()}))


if __name__ == "__main__":
    FLAGS.set_default("steps", 300)
    app.run(main)
