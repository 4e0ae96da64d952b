"""Optimizing the multi-task objective (slide 20): sample tasks, then take one step.

  1. sample a mini-batch of tasks uniformly, whatever each task's data size;
  2. sample a mini-batch of examples for each task (the tf.data pipeline does this);
  3. compute the loss on the mini-batch; 4. back-propagate; 5. apply Adam.
"""

import numpy as np
import tensorflow as tf


def sample_tasks(seed, num_tasks: int, k: int):
    """Choose k distinct task ids uniformly at random (without replacement).

    Args:
      seed: [2] int64 stateless-random seed (the pipeline passes (run seed, step)).
      num_tasks: T, a Python int.
      k: number of tasks to draw, 1 <= k <= T, a Python int.
    Returns:
      [k] int32 task ids, all distinct; every subset of size k equally likely, and the
      same seed always gives the same ids. Use ``tf.random.stateless_*`` ops.
    """
    # BEGIN SOLUTION
    keys = tf.random.stateless_uniform([num_tasks], seed=seed)
    return tf.cast(tf.argsort(keys)[:k], tf.int32)
    # END SOLUTION


def masked_task_losses(per_example_losses, masks):
    """Per-task mean loss over the examples that carry the task's label.

    Args:
      per_example_losses: [B, T] float32 loss of every example for every task
        (entries whose mask is 0 may hold anything finite).
      masks: [B, T] float32, 1 where example b has a label for task t.
    Returns:
      (losses [T] float32, present [T] bool): losses[t] is the mean of
      per_example_losses[:, t] over examples with masks[:, t] == 1 (0 if there are
      none); present[t] says whether there was at least one.
    """
    # BEGIN SOLUTION
    counts = tf.reduce_sum(masks, axis=0)
    totals = tf.reduce_sum(per_example_losses * masks, axis=0)
    losses = totals / tf.maximum(counts, 1.0)
    return losses, counts > 0
    # END SOLUTION


def train_step(model, optimizer, objective, tasks, batch):
    """One optimization step on a task-sampled batch.

    Args:
      model: a contract model: ``model(features)`` -> {task name: [B, out]}.
      optimizer: a ``keras.optimizers.Optimizer`` (Adam).
      objective: callable ``objective(losses [T], present [T]) -> scalar``; it may own
        trainable variables (``objective.trainable_variables``) learned with the model.
      tasks: list of ``Task``; ``task.loss(labels, outputs)`` gives [B] per-example losses.
      batch: ``(features, labels, masks)``: features {"x", "task"}, labels and masks
        {task name: [B]}.
    Returns:
      {"loss": scalar objective value (plus any model regularization losses),
       "task_losses": [T] per-task losses, "present": [T] bool}.

    Compute every loss inside the tape. Add ``model.losses`` (regularizers such as
    soft sharing) to the objective. Some variables may get no gradient (``None``):
    skip them when applying.
    """
    features, labels, masks = batch
    # BEGIN SOLUTION
    with tf.GradientTape() as tape:
        outputs = model(features, training=True)
        per_example = tf.stack([t.loss(labels[t.name], outputs[t.name]) for t in tasks], axis=1)
        mask = tf.stack([masks[t.name] for t in tasks], axis=1)
        losses, present = masked_task_losses(per_example, mask)
        total = objective(losses, present)
        if model.losses:
            total = total + tf.add_n(model.losses)
    variables = list(model.trainable_variables) + list(objective.trainable_variables)
    grads = tape.gradient(total, variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
    return {"loss": total, "task_losses": losses, "present": present}
    # END SOLUTION


def flatten_gradients(grads, variables):
    """One flat vector from a list of per-variable gradients (what gradient methods work on).

    Args:
      grads: list of tensors shaped like ``variables``, or None for a variable the loss does
        not reach (Keras 3 variables: ``unconnected_gradients=ZERO`` is not available).
      variables: the matching list of variables.
    Returns:
      [P] float32, P = total number of entries; None counts as zeros.
    """
    # BEGIN SOLUTION
    return tf.concat([tf.reshape(tf.zeros_like(v) if g is None else g, [-1])
                      for g, v in zip(grads, variables)], axis=0)
    # END SOLUTION


def unflatten_gradients(vector, variables):
    """Inverse of ``flatten_gradients``: split a [P] vector into tensors shaped like ``variables``.

    Args:
      vector: [P] float32.
      variables: list of variables (their sizes sum to P).
    Returns:
      list of tensors, one per variable, with the variable's shape.
    """
    # BEGIN SOLUTION
    sizes = [int(np.prod(v.shape)) for v in variables]
    return [tf.reshape(part, v.shape) for part, v in zip(tf.split(vector, sizes), variables)]
    # END SOLUTION
