"""Keras ``fit`` for multi-task training: the same step as the Trainer, under Keras's loop.

    mt = MultiTaskModel(model, data.tasks, objective="uncertainty", grad_method="pcgrad")
    mt.compile(optimizer=keras.optimizers.Adam(1e-3))
    mt.fit(task_sampled_dataset(data.train, data.tasks, len(data.tasks), 64, seed=0), steps_per_epoch=100,
           epochs=5, validation_data=joint_dataset(data.validation, ...), callbacks=[...])

``train_step`` calls ``mtl_tf.training.step.train_step`` (losses -> objective -> per-task
gradients -> method: the Trainer's code, not a copy) and applies its (gradient, variable) pairs
unless a loss or gradient is non-finite (that step is skipped and counted in the ``skipped``
metric, as ``--nan_policy=skip_step``). Logged metrics (each step's values: the history keeps an epoch's
last): ``loss``, ``loss/<task>`` (per-task losses of the step's batch), ``weight/<task>`` (the
gradient method's or the objective's task weights) and ``skipped`` (steps skipped so far). ``test_step`` reports the same losses without updating.

The objective's and method's state (uncertainty's log-variances, PCGrad's counter, ...) are Keras
variables of this model, so ``save_weights``, ``ModelCheckpoint(save_weights_only=True)`` and
``BackupAndRestore`` keep them. Save the contract model itself (``mt.inner.save("m.keras")``) to
serve it.
"""

import keras
import tensorflow as tf

from mtl_tf.contract import check_contract
from mtl_tf.methods import make_method
from mtl_tf.objectives import make_objective
from mtl_tf.training.guards import all_finite
from mtl_tf.training.step import train_step
from mtl_tf.losses import task_losses


class MultiTaskModel(keras.Model):
    """A contract ``model`` trained by Keras ``fit`` with a multi-task objective and gradient method.

    ``objective``: a name or an ``Objective``; ``grad_method``: None, a name or a ``GradientMethod``
    (options as in ``Trainer``). Batches are ``(features, labels, masks)`` as the toolkit's pipelines
    make them (``mtl_tf.data.task_sampled_dataset`` / ``joint_dataset``).
    """

    def __init__(self, model, tasks, objective="sum", grad_method=None, *, objective_options=None,
                 method_options=None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        check_contract(model, tasks)
        self.inner = model
        self.tasks = list(tasks)
        if isinstance(objective, str):
            objective = make_objective(objective, self.tasks, **(objective_options or {}))
        if isinstance(grad_method, str):
            grad_method = make_method(grad_method, self.tasks, model=model, objective=objective, seed=seed,
                                      **(method_options or {}))
        objective.check_model(model, self.tasks)
        self.mtl_objective, self.mtl_method = objective, grad_method
        # the objective's / method's tf.Variables, mirrored into Keras variables Keras saves and restores
        self._state_pairs = [(v, self.add_weight(name=v.name.split(":")[0].replace("/", "_"), shape=v.shape,
                                                 dtype=v.dtype, initializer="zeros", trainable=False))
                             for v in self._mtl_state()]
        self.skipped = self.add_weight(name="skipped_steps", shape=(), dtype="int64", initializer="zeros",
                                       trainable=False)
        self.built = True   # the contract model is built already (BackupAndRestore needs this)

    def _mtl_state(self):
        return list(self.mtl_objective.variables) + ([] if self.mtl_method is None else list(self.mtl_method.variables))

    def call(self, inputs, training=False):
        return self.inner(inputs, training=training)

    def compile(self, optimizer="adam", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(list(self.inner.trainable_variables) + list(self.mtl_objective.trainable_variables))
        for source, mirror in self._state_pairs:
            mirror.assign(source)

    def train_step(self, data):
        self._load_state()
        before = [v.read_value() for v in self._mtl_state() if not v.trainable]
        self.mtl_objective.before_step(self.inner, self.tasks, data)
        out, pairs = train_step(self.inner, self.mtl_objective, self.mtl_method, self.tasks, data)
        ok = all_finite([tf.where(out["present"], out["task_losses"], 0.0), out["loss"]] + [g for g, _ in pairs])
        tf.cond(ok, lambda: self._apply(pairs), lambda: tf.constant(False))
        for v, b in zip([v for v in self._mtl_state() if not v.trainable], before):
            v.assign(tf.where(ok, v.read_value(), b))
        self.skipped.assign_add(tf.cast(~ok, tf.int64))
        self._save_state()
        return self._logs(out)

    def test_step(self, data):
        features, labels, masks = data
        losses, present, _ = task_losses(self.inner(features, training=False), self.tasks, labels, masks)
        return self._logs({"loss": self.mtl_objective(losses, present), "task_losses": losses})

    def _apply(self, pairs):
        self.optimizer.apply_gradients(pairs)
        return tf.constant(True)

    def _logs(self, out):
        weights = self.mtl_objective.task_weights() if self.mtl_method is None else self.mtl_method.task_weights()
        logs = {"loss": out["loss"], "skipped": self.skipped.value}
        for i, t in enumerate(self.tasks):
            logs[f"loss/{t.name}"] = out["task_losses"][i]
            logs[f"weight/{t.name}"] = weights[i]
        return logs

    def _load_state(self):
        for source, mirror in self._state_pairs:
            source.assign(mirror)

    def _save_state(self):
        for source, mirror in self._state_pairs:
            mirror.assign(source)
