"""Model selection on the validation split: the best evaluation so far, its step and weights.

``select_by`` names what is compared at every evaluation:

* ``"<task>/<metric>"``: one task's validation metric (e.g. ``"click/auc"``);
* ``"mean_<metric>"``: the mean of ``metric`` over the tasks that report it (e.g. ``"mean_rmse"``).

Lower is better except for the metrics ``mtl_tf.tasks.LOWER_IS_BETTER`` marks otherwise (accuracy,
AUC). The selector keeps, in checkpointed variables, the best score, its step, how many
evaluations have passed since, and a copy of the model's weights at the best step, so a resumed
run selects exactly as an uninterrupted one. At the end the Trainer puts the best weights back
and reports the test metrics at ``best_step`` (never at the last step): hyperparameters and
checkpoints are chosen on validation, the test split only reports.
"""

import math

import numpy as np
import tensorflow as tf

from mtl_tf.tasks import LOWER_IS_BETTER


def parse_select_by(spec: str, tasks):
    """(task name or None for the mean, metric, lower_is_better); ValueError naming what is allowed."""
    names = [t.name for t in tasks]
    if spec.startswith("mean_"):
        task, metric = None, spec[len("mean_"):]
    elif "/" in spec:
        task, metric = spec.split("/", 1)
        if task not in names:
            raise ValueError(f"--select_by={spec}: no task {task!r}; the tasks are {names}.")
    else:
        raise ValueError(f"--select_by={spec}: use <task>/<metric> (e.g. {names[0]}/rmse) or mean_<metric> "
                         "(e.g. mean_rmse).")
    if metric not in LOWER_IS_BETTER:
        raise ValueError(f"--select_by={spec}: unknown metric {metric!r}; choose one of {sorted(LOWER_IS_BETTER)}.")
    return task, metric, LOWER_IS_BETTER[metric]


class Selector(tf.Module):
    """The best validation evaluation by ``spec`` and the model's weights at it."""

    def __init__(self, spec: str, model, tasks, name=None):
        super().__init__(name=name)
        self.spec = spec
        self.task, self.metric, self.lower_is_better = parse_select_by(spec, tasks)
        self._model_weights = list(model.weights)
        self.best_score = tf.Variable(math.inf if self.lower_is_better else -math.inf, dtype=tf.float64,
                                      trainable=False, name="best_score")
        self.best_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_step")
        self.waited = tf.Variable(0, dtype=tf.int64, trainable=False, name="evaluations_since_best")
        self.best_weights = [tf.Variable(w, trainable=False, name=f"best_{i}") for i, w in enumerate(self._model_weights)]

    def score(self, validation: dict) -> float:
        """The compared number of one evaluation ``{task: {metric: value}}``."""
        if self.task is not None:
            return float(validation[self.task][self.metric])
        values = [m[self.metric] for m in validation.values() if self.metric in m]
        if not values:
            raise ValueError(f"--select_by={self.spec}: no task reports {self.metric!r}.")
        return float(np.mean(values))

    def update(self, step: int, validation: dict) -> bool:
        """Record evaluation ``validation`` at ``step``; whether it is the new best."""
        score = self.score(validation)
        best = float(self.best_score.numpy())
        improved = np.isfinite(score) and (score < best if self.lower_is_better else score > best)
        if improved:
            self.best_score.assign(score)
            self.best_step.assign(step)
            self.waited.assign(0)
            for copy, w in zip(self.best_weights, self._model_weights):
                copy.assign(w)
        else:
            self.waited.assign_add(1)
        return bool(improved)

    def patience_exhausted(self, patience: int) -> bool:
        """Whether ``patience`` evaluations (> 0) have passed without a new best."""
        return patience > 0 and int(self.waited.numpy()) >= patience

    def restore_best(self) -> int:
        """Put the best step's weights back into the model; that step (0: no evaluation yet)."""
        step = int(self.best_step.numpy())
        if step:
            for copy, w in zip(self.best_weights, self._model_weights):
                w.assign(copy)
        return step
