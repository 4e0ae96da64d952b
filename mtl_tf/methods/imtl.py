"""IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021).

The update sum_k a_k g_k (sum a = 1) whose projections on every task's unit gradient are equal,
so no task is favoured by its gradient's size. The graded ``imtl_g`` does the math.
"""

from mtl_tf.impl import graded
from mtl_tf.methods.base import GradientMethod


class IMTL(GradientMethod):
    """Options: none."""

    def _combine(self, rows):
        return graded("gradients").imtl_g(rows)
