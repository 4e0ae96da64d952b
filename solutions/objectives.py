"""Multi-task objectives: the per-task loss vector -> one scalar to minimise.

Every objective takes ``losses`` [T] (each task's masked-mean loss this step) and
``present`` [T] bool (which tasks had at least one example this step). Tasks that
are absent must not contribute: their entry of ``losses`` is meaningless.
"""

import tensorflow as tf


def sum_objective(losses, present):
    """The vanilla multi-task objective: sum_i L_i over the present tasks (slide 7).

    Args:
      losses: [T] float32 per-task losses.
      present: [T] bool, True where the task is in this step's batch.
    Returns:
      scalar float32.
    """
    # BEGIN SOLUTION
    return tf.reduce_sum(tf.where(present, losses, tf.zeros_like(losses)))
    # END SOLUTION
