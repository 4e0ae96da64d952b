"""What a gradient method is: per-task gradient rows of the shared variables -> one update.

A method is one small class. The framework hands it ``grads`` [T, P] (one row per task, every
task of the run) and ``present`` [T] bool; the method combines only the present rows:

* absent tasks' rows never enter the arithmetic (whatever they hold: zeros, garbage, NaN), and
  their weights are 0 (in task-sampled mode K = present tasks varies by step, shapes stay symbolic
  and the step is traced once);
* a present row that is not finite gives a NaN update without running the method, so the step
  guard refuses the step and names the task (``nonfinite_rows``);
* ``update = sum_t weights[t] * grads[t]`` and the weights are kept for logging (``task_weights``).

Two kinds:

* ``GradientMethod``: the method needs the rows themselves (``_combine(rows [K, P])``, e.g. PCGrad).
* ``GramianMethod``: the method needs only the Gram matrix G G^T (``_weights_of(gram [K, K])``, e.g.
  MGDA): the [T, P] rows are touched twice, once for G G^T and once for the final combination, and
  the same method serves MGDA-UB-style representation rows (``uses_representation``).

Methods keep their state (counters, running statistics) in variables made with
``replicated_state`` (tracked by the Trainer's checkpoint as ``grad_method``); a method stores
nothing on Python attributes while tracing.
"""

from typing import Optional

import tensorflow as tf

from mtl_tf.methods.solvers import in_xla_context
from mtl_tf.replicas import replicated_state


def nonfinite_rows(grads, present):
    """[T] bool: present tasks whose gradient row holds a NaN or an infinity."""
    return present & ~tf.reduce_all(tf.math.is_finite(grads), axis=1)


def gram_matrix(rows):
    """rows rows^T [T, T], up to one positive factor (which changes no method's weights).

    In float32 the squares of entries beyond ~1e16 overflow and those below ~1e-19 lose their
    digits, so rows whose largest entry is outside [1e-15, 1e15] are divided by it first; others
    (the usual case) go straight to einsum, which on CPU was ~3x faster than ``matmul(transpose_b)``
    for [20, 82k] rows (benchmarks/README.md)."""
    top = tf.reduce_max(tf.abs(rows))
    ordinary = (top > 1e-15) & (top < 1e15)
    scaled = tf.cond(ordinary | ~(top > 0), lambda: rows, lambda: rows / top)
    return tf.einsum("ip,jp->ij", scaled, scaled)


class GradientMethod(tf.Module):
    """Base: ``combine(grads [T, P], present [T]) -> (update [P], weights [T])``.

    Subclasses implement ``_combine(rows [K, P]) -> (update [P], weights [K])`` on the present rows.
    ``uses_representation``: per-task gradients are taken w.r.t. the shared representation
    (``forward`` returns it) instead of the shared variables (MGDA-UB).
    ``name_in_registry`` is the method's ``--grad_method`` value (set by the registry).
    """

    uses_representation = False
    name_in_registry: Optional[str] = None

    def __init__(self, tasks, name=None):
        super().__init__(name=name)
        self.tasks = list(tasks)
        self._weights = replicated_state(tf.ones([len(self.tasks)]), "task_weights")

    def forward(self, model, features):
        """(outputs, representation or None) of a training-mode forward pass."""
        return model(features, training=True), None

    def combine(self, grads, present):
        """The method on the present tasks' rows; weights of absent tasks are 0."""
        count = tf.reduce_sum(tf.cast(present, tf.int32))
        usable = (count > 0) & ~tf.reduce_any(nonfinite_rows(grads, present))
        if in_xla_context():
            combined = lambda: self._combine_static(grads, present, count)  # noqa: E731
        else:
            combined = lambda: self._combine_present(grads, tf.cast(tf.where(present)[:, 0], tf.int32))  # noqa: E731
        update, weights = tf.cond(usable, combined, lambda: self._nothing(grads, count > 0))
        self._weights.assign(tf.cast(weights, self._weights.dtype))
        return update, weights

    def _combine_static(self, grads, present, count):
        """``_combine_present`` with K known at trace time, one branch per K = 1..T: inside one XLA
        computation (``--jit_compile``) a solver's loops, one-hots and scatters need static sizes,
        which ``tf.where(present)`` (dynamic K) does not give."""
        order = tf.argsort(tf.cast(~present, tf.int32), stable=True)   # present tasks first, [T]
        branches = [lambda k=k: self._combine_present(grads, order[:k]) for k in range(1, len(self.tasks) + 1)]
        return tf.switch_case(tf.maximum(count - 1, 0), branches)

    def _nothing(self, grads, any_present):
        """No task (zero update) or a non-finite present row (NaN update); weights 0."""
        fill = tf.where(any_present, tf.constant(float("nan"), grads.dtype), tf.zeros([], grads.dtype))
        return tf.fill(tf.shape(grads[0]), fill), tf.zeros([len(self.tasks)], grads.dtype)

    def _combine_present(self, grads, ids):
        """(update [P], weights [T]) from all rows ``grads`` [T, P] and the present ids [K]."""
        update, w = self._combine(tf.gather(grads, ids))
        return update, tf.scatter_nd(ids[:, None], w, [len(self.tasks)])

    def _combine(self, rows):
        raise NotImplementedError

    def task_weights(self):
        """[T] weights of the last update's combination (for TensorBoard)."""
        return self._weights.read_value()


class GramianMethod(GradientMethod):
    """A method whose weights depend on the rows only through their Gram matrix G G^T.

    The Gram matrix is formed once from all T rows (absent rows zeroed with ``tf.where``, not
    multiplied, so a NaN there cannot leak), and the absent tasks are dropped from the [T, T]
    matrix instead of gathering the [K, P] rows. Subclasses implement ``_weights_of(gram [K, K]) ->
    weights [K]``."""

    def _combine_present(self, grads, ids):
        present = tf.scatter_nd(ids[:, None], tf.ones_like(ids, tf.bool), [len(self.tasks)])
        rows = tf.where(present[:, None], grads, tf.zeros_like(grads))    # absent rows never enter
        gram = gram_matrix(rows)
        w = self._weights_of(tf.gather(tf.gather(gram, ids), ids, axis=1))
        weights = tf.scatter_nd(ids[:, None], tf.cast(w, rows.dtype), [len(self.tasks)])
        return tf.linalg.matvec(rows, weights, transpose_a=True), weights

    def _weights_of(self, gram):
        raise NotImplementedError
