"""Objective registry (``--objective``): stateful wrappers around the graded pure functions.

An objective is called as ``objective(losses [T], present [T] bool) -> scalar`` inside the
train step. The graded math lives in the implementation's ``objectives`` module as pure
functions of tensors; this module owns any state (trainable variables, loss history) and
maps each ``--objective`` name to its class -- the only place that does.
"""

from typing import Dict

import tensorflow as tf

from mtl_tf import impl


class Objective(tf.Module):
    """Base class. Subclasses implement ``__call__``; ``trainable_variables`` (from tf.Module)
    are learned together with the model; ``task_weights()`` reports weights for logging."""

    def __init__(self, tasks, name=None):
        super().__init__(name=name)
        self.tasks = list(tasks)

    def __call__(self, losses, present):
        raise NotImplementedError

    def task_weights(self):
        """[T] weights the objective currently puts on each task (for TensorBoard)."""
        return tf.ones([len(self.tasks)], tf.float32)


class SumObjective(Objective):
    """sum_i L_i over the present tasks."""

    def __call__(self, losses, present):
        return impl.module("objectives").sum_objective(losses, present)


OBJECTIVES: Dict[str, type] = {"sum": SumObjective}


def make_objective(name: str, tasks, flag_values=None) -> Objective:
    """The ``--objective`` called ``name`` for ``tasks``."""
    if name not in OBJECTIVES:
        raise ValueError(f"Unknown objective {name!r}; choose one of {sorted(OBJECTIVES)}.")
    return OBJECTIVES[name](tasks)
