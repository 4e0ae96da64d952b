"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020).

g_i^PC starts at g_i and, over the other tasks j in a fresh random order, loses its component
along g_j whenever g_i^PC . g_j < 0 (projection on the ORIGINAL g_j); update = sum_i g_i^PC.
The graded ``pcgrad`` does the math; this class owns the random orders' seed: (run seed, call
count), a checkpointed counter.
"""

import tensorflow as tf

from mtl_tf.impl import graded
from mtl_tf.methods.base import GradientMethod
from mtl_tf.methods.solvers import compiled_solver, sample_rows_and_seed
from mtl_tf.replicas import replicated_state


class PCGrad(GradientMethod):
    """PCGrad with a fresh stateless-random order per task and step. Options: none (``seed`` is the run's)."""

    def __init__(self, tasks, seed: int = 0, name=None):
        super().__init__(tasks, name=name)
        self.seed = seed
        self.calls = replicated_state(tf.constant(0, tf.int64), "calls")

    def combine(self, grads, present):
        update, weights = super().combine(grads, present)
        # counted outside combine's tf.cond: under a strategy a replicated write is a synchronization point
        self.calls.assign_add(tf.cast(tf.reduce_any(present), tf.int64))
        return update, weights

    def _combine(self, rows):
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.calls.read_value()])
        return compiled_solver(graded("gradients").pcgrad, sample_rows_and_seed)(rows, seed)
