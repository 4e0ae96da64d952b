"""tf.data pipelines that feed the model contract.

Every element is ``(features, labels, masks)``:
``features = {"x": [B, ...], <every other feature key of the split>: [B, ...], "task": [B] int32}``,
``labels = {task: [B]}`` (training labels: standardized for regression),
``masks = {task: [B] float32}``. Shapes are static so the train step is traced once.
``feature_keys`` restricts the features to the keys a model takes (``"task"`` is always added).

* ``task_sampled``: slide 20. Each step samples ``tasks_per_step`` = k of the T tasks
  without replacement, then ``batch_size`` = b examples that carry that task's label.
  B = k*b; each example's ``task`` is the task it was drawn for and only that mask is on.
  ``sampling="uniform"`` (slide 20, the implementation's ``sample_tasks``): every task equally
  often whatever its data size; ``sampling="proportional"``: task t drawn with probability
  n_t / sum(n) (n_t = its labelled training examples), i.e. sampling examples by data size.
* ``joint``: multi-label batches of B examples with every present label's mask on.
"""

import numpy as np
import tensorflow as tf
from absl import flags

from mtl_tf import impl
from mtl_tf.data.base import Split

SAMPLING = ("uniform", "proportional")

flags.DEFINE_enum("task_sampling", "uniform", list(SAMPLING),
                  "How task-sampled training picks each step's tasks: uniform (slide 20: every task "
                  "equally often, whatever its size) or proportional (to each task's training-set size).")


def _feature_tensors(split: Split, feature_keys=None):
    """{key: constant [N, ...]} for the split's features (all, or ``feature_keys``)."""
    keys = sorted(split.features) if feature_keys is None else [k for k in feature_keys if k != "task"]
    missing = [k for k in keys if k not in split.features]
    if missing:
        raise ValueError(f"feature_keys {missing} are not in the split (it has {sorted(split.features)}).")
    return {k: tf.constant(split.features[k]) for k in keys}


def _training_arrays(split: Split, tasks):
    """Label and mask constants with labels made trainable (standardized, 0 where absent)."""
    labels, masks = {}, {}
    for t in tasks:
        m = np.asarray(split.masks[t.name], np.float32)
        y = np.where(m > 0, split.labels[t.name], 0)
        labels[t.name] = tf.constant(t.training_labels(y))
        masks[t.name] = tf.constant(m)
    return labels, masks


def proportional_sample_tasks(seed, sizes, k: int):
    """k distinct task ids, drawn one after another with probability proportional to ``sizes``.

    Gumbel top-k: argsort of log(size) + Gumbel noise is a draw without replacement where
    each next task is picked with probability size / (sum of the sizes not yet picked).

    Args:
      seed: [2] int64 stateless seed. sizes: [T] positive numbers. k: 1 <= k <= T.
    Returns:
      [k] int32 task ids.
    """
    log_p = tf.math.log(tf.constant(np.asarray(sizes, np.float64) / np.sum(sizes), tf.float32))
    u = tf.random.stateless_uniform(log_p.shape, seed=seed, minval=1e-12, maxval=1.0)
    return tf.cast(tf.argsort(log_p - tf.math.log(-tf.math.log(u)), direction="DESCENDING")[:k], tf.int32)


def task_sampled_dataset(split: Split, tasks, tasks_per_step: int, batch_size: int, seed: int,
                         sample_tasks=None, sampling: str = "uniform", feature_keys=None) -> tf.data.Dataset:
    """The infinite task-sampled training stream described in the module docstring.

    Args:
      sample_tasks: ``(seed [2], T, k) -> [k] ids`` for ``sampling="uniform"`` (default: the
        implementation's ``optimization.sample_tasks``).
      sampling: "uniform" or "proportional" (to each task's number of labelled examples).
      feature_keys: feature keys to carry (default: every key of ``split.features``).
    """
    num_tasks = len(tasks)
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}.")
    if not 1 <= tasks_per_step <= num_tasks:
        raise ValueError(f"tasks_per_step must be between 1 and the number of tasks ({num_tasks}), "
                         f"got {tasks_per_step}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    features = _feature_tensors(split, feature_keys)
    labels, _ = _training_arrays(split, tasks)
    indices = [np.flatnonzero(np.asarray(split.masks[t.name]) > 0).astype(np.int64) for t in tasks]
    empty = [t.name for t, i in zip(tasks, indices) if len(i) == 0]
    if empty:
        raise ValueError(f"task(s) {empty} have no labelled examples in this split; cannot sample them.")
    if sampling == "proportional":
        sizes = [len(i) for i in indices]

        def sample_tasks(seed_pair, num_tasks, k):
            return proportional_sample_tasks(seed_pair, sizes, k)
    else:
        sample_tasks = sample_tasks or impl.module("optimization").sample_tasks

    per_task = []
    for t_id, index in enumerate(indices):
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
        batch_features = {k: tf.gather(v, flat) for k, v in features.items()}
        batch_features["task"] = task
        batch_labels = {n: tf.gather(v, flat) for n, v in labels.items()}
        batch_masks = {t.name: tf.cast(tf.equal(task, i), tf.float32) for i, t in enumerate(tasks)}
        return batch_features, batch_labels, batch_masks

    return stream.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def joint_dataset(split: Split, tasks, batch_size: int, seed: int, feature_keys=None) -> tf.data.Dataset:
    """Infinite multi-label stream: batches of ``batch_size`` with every present label's mask on.

    ``feature_keys``: feature keys to carry (default: every key of ``split.features``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    features = _feature_tensors(split, feature_keys)
    labels, masks = _training_arrays(split, tasks)
    index = tf.data.Dataset.range(split.size).shuffle(split.size, seed=seed, reshuffle_each_iteration=True)

    def gather(flat):
        batch_features = {k: tf.gather(v, flat) for k, v in features.items()}
        batch_features["task"] = tf.zeros_like(flat, tf.int32)
        return (batch_features, {n: tf.gather(v, flat) for n, v in labels.items()},
                {n: tf.gather(v, flat) for n, v in masks.items()})

    return (index.repeat().batch(batch_size, drop_remainder=True)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
