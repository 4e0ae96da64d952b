"""The per-task loss vector of a batch: masked means, one task at a time, exact under a strategy."""

import tensorflow as tf

from mtl_tf.impl import graded
from mtl_tf.replicas import all_reduce_sum, num_replicas


def task_losses(outputs, tasks, labels, masks):
    """(losses [T], present [T] bool, local: T scalars, each replica's share of task t's loss).

    Every task's masked mean is computed from its own output alone (the graded
    ``masked_task_losses`` on one column), so the gradient of ``local[t]`` reaches only task t's
    head. With one replica ``local[t]`` is ``losses[t]``; with R > 1 it is ``mean_t n_t / N_t``
    (n_t: this replica's labelled examples of task t, N_t: all replicas'), and
    ``losses = all_reduce(local)`` is the exact global mean (the gradient of an all-reduce sum is
    the all-reduce sum of the upstream gradients).
    """
    masked_means = graded("optimization").masked_task_losses
    local, present = [], []
    for t in tasks:
        mask = tf.cast(masks[t.name], tf.float32)
        loss, here = masked_means(t.loss(labels[t.name], outputs[t.name])[:, None], mask[:, None])
        if num_replicas() > 1:
            count = tf.reduce_sum(mask)
            total = all_reduce_sum(count)
            loss, here = loss * count / tf.maximum(total, 1.0), total[None] > 0
        local.append(loss[0])
        present.append(here[0])
    return all_reduce_sum(tf.stack(local)), tf.stack(present), local
