"""Gradient conflict, measured: pairwise cosines and norms of the tasks' gradients on the shared
variables (the manipulation check of every "conflicting tasks" claim).

``gradient_conflict(model, tasks, batch)`` -> ``(cosines [T, T], norms [T], present [T])`` for one
batch with the current weights: row i is grad L_i of the shared variables (the raw task losses, not
weighted by the objective). A pair with an absent or zero-gradient task has cosine NaN. The Trainer
measures it on a separate probe stream of training batches (the training stream is untouched)
every ``log_every`` steps when ``log_gradient_conflict`` is on: T extra backward passes every
``log_every`` steps (benchmarks/README.md has the measured cost).
"""

import tensorflow as tf

from mtl_tf.losses import task_losses
from mtl_tf.methods.base import gram_matrix
from mtl_tf.models import split_variables
from mtl_tf.training.step import task_jacobian


def gradient_conflict(model, tasks, batch):
    """(cosines [T, T], norms [T], present [T] bool) of the per-task shared gradients on ``batch``."""
    features, labels, masks = batch
    shared, _ = split_variables(model, tasks)
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(features, training=False)
        _, present, scalars = task_losses(outputs, tasks, labels, masks)
    rows = task_jacobian(tape, scalars, shared) if shared else tf.zeros([len(tasks), 0])
    del tape
    norms = tf.sqrt(tf.reduce_sum(tf.square(rows), axis=1))
    gram = gram_matrix(rows)
    scale = tf.sqrt(tf.linalg.diag_part(gram))
    usable = present & (scale > 0)
    cosines = tf.math.divide_no_nan(gram, scale[:, None] * scale[None, :])
    both = usable[:, None] & usable[None, :]
    return tf.where(both, cosines, tf.constant(float("nan"))), norms, present
