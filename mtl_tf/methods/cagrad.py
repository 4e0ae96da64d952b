"""CAGrad (Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021).

d = argmax_d min_i g_i . d subject to ||d - g0|| <= c ||g0|| (g0 the mean gradient), returned as
d / (1 + c) (the official code's ``rescale=2``). c = 0 is the mean; c >= 1 never conflicts with a
task. The graded ``cagrad`` solves the dual exactly through MGDA's min-norm problem.
"""

from mtl_tf.impl import graded
from mtl_tf.methods.base import GradientMethod
from mtl_tf.methods.solvers import compiled_solver, sample_rows


class CAGrad(GradientMethod):
    """Options: ``c`` (0.5), the conflict-averse radius (>= 0)."""

    def __init__(self, tasks, c: float = 0.5, name=None):
        super().__init__(tasks, name=name)
        if c < 0:
            raise ValueError(f"CAGrad's c must be >= 0, got {c}.")
        self.c = c

    def _combine(self, rows):
        return compiled_solver(graded("gradients").cagrad, sample_rows, c=self.c)(rows)
