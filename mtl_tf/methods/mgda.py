"""MGDA (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018).

The update is the min-norm point of the convex hull of the task gradients,
d = argmin_{w in simplex} ||sum_k w_k g_k||^2: a direction along which no task's loss grows
(g_i . d >= ||d||^2 >= 0), 0 at a Pareto-stationary point. The graded ``mgda_weights`` solves it
exactly from the Gram matrix (Wolfe's min-norm-point algorithm). MGDA-UB (the paper's "upper
bound") takes the gradients w.r.t. the shared representation Z instead of the shared variables:
T cheap rows of size |Z| and one backward pass through the trunk.
"""

import tensorflow as tf

from mtl_tf.impl import graded
from mtl_tf.methods.base import GramianMethod
from mtl_tf.methods.representation import TrunkAndHeads
from mtl_tf.methods.solvers import compiled_solver, sample_gram


class MGDA(GramianMethod):
    """Min-norm point of the task gradients' hull. Options: ``max_iterations`` (250) of the solver."""

    def __init__(self, tasks, max_iterations: int = 250, name=None):
        super().__init__(tasks, name=name)
        self.max_iterations = max_iterations

    def _weights_of(self, gram):
        return compiled_solver(graded("gradients").mgda_weights, sample_gram, max_iterations=self.max_iterations)(gram)


class MGDAUB(MGDA):
    """MGDA on d L_i / d Z; the shared variables then get the trunk's backward pass of
    sum_i w_i d L_i / d Z.

    Each task's head reads its own copy of Z (``forward``), so ONE backward pass through the heads
    gives every row d L_i / d Z_i (task i's loss reads no other copy) together with the heads'
    own gradients, and ONE backward pass through the trunk gives the shared gradients: the same
    two halves of a single backward pass the plain sum makes, plus the min-norm solve.
    """

    uses_representation = True

    def __init__(self, tasks, model, max_iterations: int = 250, name=None):
        super().__init__(tasks, max_iterations, name=name)
        self._views = TrunkAndHeads(model, tasks)

    def forward(self, model, features):
        """(outputs {task: [B, ...]}, (Z [B, Z...], [copy of Z per task])) of a training-mode pass."""
        z = self._views.trunk(features, training=True)
        copies = [tf.identity(z) for _ in self.tasks]
        outputs = {t.name: self._views.heads[t.name](c, features) for t, c in zip(self.tasks, copies)}
        return outputs, (z, copies)
