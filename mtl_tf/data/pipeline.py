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

from mtl_tf import impl
from mtl_tf.data.base import Split

SAMPLING = ("uniform", "proportional")


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


def _stacked_labels(labels):
    """{task: [N] labels} -> ([(names, [N, n] constant)] one matrix per dtype), to gather once per dtype."""
    groups = {}
    for name, v in labels.items():
        groups.setdefault(v.dtype, []).append(name)
    return [(names, tf.stack([labels[n] for n in names], axis=1)) for names in groups.values()]


def task_sampled_dataset(split: Split, tasks, tasks_per_step: int, batch_size: int, seed: int,
                         sample_tasks=None, sampling: str = "uniform", feature_keys=None,
                         first_step: int = 0) -> tf.data.Dataset:
    """The infinite task-sampled training stream described in the module docstring.

    Batch ``s`` (s = ``first_step``, ``first_step`` + 1, ...) is a pure function of (seed, s),
    drawn in one vectorized map: the k task ids from ``sample_tasks((seed, s), T, k)``, then
    [k, b] positions ``floor(u * n_t)`` with u ~ ``stateless_uniform`` (seed folded with s), i.e.
    b examples drawn uniformly (with replacement) among task t's n_t labelled examples, then one
    gather per feature key and per label dtype. Resuming at step s: ``first_step=s``, or restore
    the iterator with ``tf.train.Checkpoint(iterator=it)`` (its state is just the step counter
    and the prefetched batches).

    Args:
      sample_tasks: ``(seed [2], T, k) -> [k] ids`` for ``sampling="uniform"`` (default: the
        implementation's ``optimization.sample_tasks``).
      sampling: "uniform" or "proportional" (to each task's number of labelled examples).
      feature_keys: feature keys to carry (default: every key of ``split.features``).
      first_step: the step of the first batch.
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
    label_groups = _stacked_labels(labels)
    indices = [np.flatnonzero(np.asarray(split.masks[t.name]) > 0).astype(np.int64) for t in tasks]
    empty = [t.name for t, i in zip(tasks, indices) if len(i) == 0]
    if empty:
        raise ValueError(f"task(s) {empty} have no labelled examples in this split; cannot sample them.")
    sizes = [len(i) for i in indices]
    if sampling == "proportional":
        def sample_tasks(seed_pair, num_tasks, k):
            return proportional_sample_tasks(seed_pair, sizes, k)
    else:
        sample_tasks = sample_tasks or impl.module("optimization").sample_tasks
    pool = tf.constant(np.concatenate(indices))                        # [sum n_t] row ids, task by task
    offsets = tf.constant(np.cumsum([0] + sizes[:-1]), tf.int64)       # [T] start of task t in pool
    counts = tf.constant(sizes, tf.float64)                            # [T] n_t
    k, b = tasks_per_step, batch_size
    steps = _steps_per_block(features, k * b)
    seed_t = tf.constant(seed, tf.int64)
    names = [t.name for t in tasks]

    def block_at(block):  # int64 scalar -> the batches of steps block*S .. block*S + S-1, stacked
        first = block * steps
        chosen = tf.stack([tf.reshape(tf.cast(sample_tasks(tf.stack([seed_t, first + i]), num_tasks, k), tf.int32),
                                      [k]) for i in range(steps)])                          # [S, k]
        u = tf.random.stateless_uniform([steps, k, b], dtype=tf.float64,
                                        seed=tf.random.experimental.stateless_fold_in(tf.stack([seed_t, block]), 1))
        n = tf.gather(counts, chosen)[..., None]                                           # [S, k, 1]
        pos = tf.cast(tf.minimum(tf.floor(u * n), n - 1), tf.int64)                        # [S, k, b]
        flat = tf.gather(pool, tf.reshape(tf.gather(offsets, chosen)[..., None] + pos, [steps, k * b]))
        task = tf.repeat(chosen, b, axis=1)                                                # [S, k*b]
        batch_features = {key: tf.gather(v, flat) for key, v in features.items()}
        batch_features["task"] = task
        batch_labels = {}
        for group, matrix in label_groups:
            batch_labels.update(zip(group, tf.unstack(tf.gather(matrix, flat), axis=2)))
        batch_masks = dict(zip(names, tf.unstack(tf.one_hot(task, num_tasks), axis=2)))
        return batch_features, batch_labels, batch_masks

    return (tf.data.Dataset.counter(first_step // steps)
            .map(block_at, num_parallel_calls=tf.data.AUTOTUNE)
            .unbatch()
            .skip(first_step % steps)
            .prefetch(tf.data.AUTOTUNE))


def _steps_per_block(features, batch: int, max_steps: int = 16, max_bytes: int = 8 << 20) -> int:
    """S, the steps drawn per map call: up to ``max_steps``, at most ``max_bytes`` of features per block."""
    row = sum(v.dtype.size * int(np.prod(v.shape[1:])) for v in features.values()) + 16
    return int(max(1, min(max_steps, max_bytes // (row * batch))))


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
