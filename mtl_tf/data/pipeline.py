"""tf.data pipelines that feed the model contract.

Every element is ``(features, labels, masks)``:
``features = {"x": [B, ...], "task": [B] int32}``, ``labels = {task: [B]}`` (training
labels: standardized for regression), ``masks = {task: [B] float32}``. Shapes are static
so the train step is traced once.

* ``task_sampled``: slide 20. Each step samples ``tasks_per_step`` = k of the T tasks
  uniformly without replacement (the implementation's ``sample_tasks``), whatever each
  task's data size, then ``batch_size`` = b examples that carry that task's label.
  B = k*b; each example's ``task`` is the task it was drawn for and only that mask is on.
* ``joint``: multi-label batches of B examples with every present label's mask on.
"""

import numpy as np
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.data.base import Split


def _training_arrays(split: Split, tasks):
    """Constant tensors of the split with labels made trainable (standardized, 0 where absent)."""
    x = tf.constant(split.features["x"])
    labels, masks = {}, {}
    for t in tasks:
        m = np.asarray(split.masks[t.name], np.float32)
        y = np.where(m > 0, split.labels[t.name], 0)
        labels[t.name] = tf.constant(t.training_labels(y))
        masks[t.name] = tf.constant(m)
    return x, labels, masks


def task_sampled_dataset(split: Split, tasks, tasks_per_step: int, batch_size: int, seed: int,
                         sample_tasks=None) -> tf.data.Dataset:
    """The infinite task-sampled training stream described in the module docstring."""
    num_tasks = len(tasks)
    if not 1 <= tasks_per_step <= num_tasks:
        raise ValueError(f"tasks_per_step must be between 1 and the number of tasks ({num_tasks}), "
                         f"got {tasks_per_step}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    sample_tasks = sample_tasks or impl.module("optimization").sample_tasks
    x, labels, masks = _training_arrays(split, tasks)

    per_task = []
    for t_id, t in enumerate(tasks):
        index = np.flatnonzero(np.asarray(split.masks[t.name]) > 0).astype(np.int64)
        ds = (tf.data.Dataset.from_tensor_slices(index)
              .shuffle(len(index), seed=seed * 1000 + t_id, reshuffle_each_iteration=True)
              .repeat()
              .batch(batch_size, drop_remainder=True)
              .map(lambda i, t_id=t_id: (i, tf.constant(t_id, tf.int64))))
        per_task.append(ds)

    def step_tasks(step):
        seed_pair = tf.stack([tf.constant(seed, tf.int64), step])
        chosen = sample_tasks(seed_pair, num_tasks, tasks_per_step)
        return tf.cast(tf.reshape(chosen, [tasks_per_step]), tf.int64)

    choice = tf.data.Dataset.counter().map(step_tasks).unbatch()
    stream = (tf.data.Dataset.choose_from_datasets(per_task, choice)
              .batch(tasks_per_step, drop_remainder=True))

    def gather(index, task_ids):  # index [k, b], task_ids [k]
        flat = tf.reshape(index, [-1])
        task = tf.cast(tf.repeat(task_ids, batch_size), tf.int32)
        features = {"x": tf.gather(x, flat), "task": task}
        batch_labels = {n: tf.gather(v, flat) for n, v in labels.items()}
        batch_masks = {t.name: tf.cast(tf.equal(task, i), tf.float32) for i, t in enumerate(tasks)}
        return features, batch_labels, batch_masks

    return stream.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def joint_dataset(split: Split, tasks, batch_size: int, seed: int) -> tf.data.Dataset:
    """Infinite multi-label stream: batches of ``batch_size`` with every present label's mask on."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    x, labels, masks = _training_arrays(split, tasks)
    index = tf.data.Dataset.range(split.size).shuffle(split.size, seed=seed, reshuffle_each_iteration=True)

    def gather(flat):
        features = {"x": tf.gather(x, flat), "task": tf.zeros_like(flat, tf.int32)}
        return (features, {n: tf.gather(v, flat) for n, v in labels.items()},
                {n: tf.gather(v, flat) for n, v in masks.items()})

    return (index.repeat().batch(batch_size, drop_remainder=True)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
