"""Conditioning on the task descriptor z_i (slides 7, 10-14).

The model f(y | x, z_i) sees the task through a descriptor z_i: the one-hot task index, a
learned task embedding, or a given metadata vector (user features, a description of the task).
How it is conditioned decides how much is shared:

* concatenation: a dense layer applied to [h, z]             (everything shared)
* additive:      a learned projection of z added to h @ W + b (the same thing, slide 13)
* multiplicative: (h @ W + b) * (z @ S), optionally + z @ R (FiLM) -- more expressive per layer
* multiplicative gating with one-hot z: y = sum_j 1(z = j) y_j -- independent networks
  inside one model, nothing shared (slide 10)
* multi-head: a shared trunk and one head per task, selected by z (the ``shared_bottom`` builder).

The pure functions below do the math on tensors; the layers in ``mtl_tf.layers`` hold the
weights and call them. The builders follow the model contract of ``mtl_tf.models``: output t
is computed with z = z_t for every example, so it is the prediction for task t.

Builder flags (``mtl-train --model=...``, defined in ``mtl_tf.models``): ``--hidden_units``,
``--tower_units``, ``--backbone``, ``--conv_filters``, and for concat / additive /
multiplicative / film: ``--task_descriptor=onehot|embedding|metadata``, ``--descriptor_dim``.
"""

import numpy as np
import tensorflow as tf
import keras

from mtl_tf.layers import ConditionedDense, GatedSelect, TaskDescriptors
from mtl_tf.models import model_inputs, task_layer_name

from .architectures import backbone_features, mlp, task_head

DESCRIPTORS = ("onehot", "embedding", "metadata")


# ---- the math -------------------------------------------------------------------------------

def concat_conditioning(h, z, kernel, bias):
    """A dense layer applied to the concatenation [h, z] (pre-activation).

    Args:
      h: [B, F] activations.
      z: [B, m] task descriptors.
      kernel: [F + m, U]; its first F rows act on h, the last m rows on z.
      bias: [U].
    Returns:
      [B, U] = concat([h, z], axis=-1) @ kernel + bias.
    """
    # BEGIN SOLUTION
    return tf.matmul(tf.concat([h, z], axis=-1), kernel) + bias
    # END SOLUTION


def additive_conditioning(h, z, kernel, projection, bias):
    """A dense layer on h plus a learned projection of z (pre-activation).

    Args:
      h: [B, F] activations.
      z: [B, m] task descriptors.
      kernel: [F, U]; projection: [m, U]; bias: [U].
    Returns:
      [B, U] = h @ kernel + z @ projection + bias.
    """
    # BEGIN SOLUTION
    return tf.matmul(h, kernel) + tf.matmul(z, projection) + bias
    # END SOLUTION


def multiplicative_conditioning(h, z, scale, shift=None):
    """Feature-wise transformation of h by z: a per-feature scale, optionally a shift (FiLM).

    Args:
      h: [B, U] activations (e.g. a dense layer's pre-activation).
      z: [B, m] task descriptors.
      scale: [m, U]; z @ scale is the per-example, per-feature multiplier.
      shift: [m, U] or None; z @ shift is added after scaling.
    Returns:
      [B, U] = h * (z @ scale) (+ z @ shift).
    """
    # BEGIN SOLUTION
    out = h * tf.matmul(z, scale)
    if shift is not None:
        out = out + tf.matmul(z, shift)
    return out
    # END SOLUTION


def gated_outputs(outputs, z):
    """Multiplicative gating: y = sum_j z_j * y_j (with one-hot z, y = y_{task}).

    Args:
      outputs: [B, J, U] -- the J networks' outputs y_j for every example.
      z: [B, J] gate; one-hot task index for the slide's gating.
    Returns:
      [B, U]. With one-hot z, networks j != task get exactly zero gradient.
    """
    # BEGIN SOLUTION
    return tf.einsum("bj,bju->bu", z, outputs)
    # END SOLUTION


# ---- descriptors and backbone (given) ------------------------------------------------------

def default_metadata(num_tasks: int, dim: int, seed: int = 0) -> np.ndarray:
    """A fixed [T, dim] metadata matrix when the data supplies none: seeded random
    non-negative rows that sum to 1 (so a feature-wise scale initialised to ones starts at 1)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((num_tasks, dim))
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def descriptor_table(tasks, task_descriptor: str = "onehot", descriptor_dim: int = 8, task_metadata=None):
    """([T, m] initial descriptor table, trainable?) for ``--task_descriptor``.

    onehot: the identity (m = T), fixed; embedding: a learned [T, descriptor_dim] table,
    initialised with positive rows summing to about 1; metadata: ``task_metadata`` ([T, m],
    e.g. user or task features the data supplies) or ``default_metadata``, fixed.
    """
    t = len(tasks)
    if task_descriptor == "onehot":
        return np.eye(t, dtype=np.float32), False
    if task_descriptor == "embedding":
        rng = np.random.default_rng(1)
        return rng.uniform(0.0, 2.0 / descriptor_dim, (t, descriptor_dim)).astype(np.float32), True
    if task_descriptor == "metadata":
        table = default_metadata(t, descriptor_dim) if task_metadata is None else np.asarray(task_metadata,
                                                                                             np.float32)
        if table.ndim != 2 or table.shape[0] != t:
            raise ValueError(f"task_metadata must be a [T, m] matrix with one row per task (T = {t}), "
                             f"got shape {table.shape}.")
        return table, False
    raise ValueError(f"task_descriptor must be one of {DESCRIPTORS}, got {task_descriptor!r}.")


# ---- builders --------------------------------------------------------------------------------

def _conditioned(mode, input_shape, tasks, hidden_units, tower_units, task_descriptor, descriptor_dim,
                 task_metadata, backbone, conv_filters):
    inputs = model_inputs(input_shape)
    h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    table, trainable = descriptor_table(tasks, task_descriptor, descriptor_dim, task_metadata)
    zs = TaskDescriptors(table, trainable, name="task_descriptor")(h)
    layers = [ConditionedDense(u, mode, name=f"conditioned.{i}") for i, u in enumerate(hidden_units)]
    outputs = {}
    for t, z in zip(tasks, zs):
        ht = h
        for layer in layers:
            ht = layer([ht, z])
        outputs[t.name] = task_head(ht, t, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{mode}_conditioned")


_CONDITIONED_ARGS = """
    Args:
      input_shape: one example's feature shape, e.g. (100,) or (32, 32, 3) with backbone="conv".
      tasks: list of ``Task``.
      hidden_units: widths of the conditioned hidden layers (every one of them sees z).
      tower_units: widths of each task's tower before its output layer.
      task_descriptor: "onehot" | "embedding" | "metadata" (see ``descriptor_table``).
      descriptor_dim: m for "embedding" and the default metadata.
      task_metadata: [T, m] per-task metadata for "metadata" (default: ``default_metadata``).
      backbone, conv_filters: "mlp" for vectors, "conv" for images (a shared conv stem).
    Returns:
      A functional keras.Model obeying the contract; output t uses z = z_t. Shared: the
      stem, the conditioned layers (and a learned embedding); task-owned: the towers and
      output layers (tasks' output sizes differ).
"""


def concat_conditioned(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), task_descriptor="onehot",
                       descriptor_dim=8, task_metadata=None, backbone="mlp", conv_filters=(16, 32)):
    """Concatenation-based conditioning (slide 11/13): every hidden layer is Dense([h, z_t])."""
    return _conditioned("concat", input_shape, tasks, hidden_units, tower_units, task_descriptor, descriptor_dim,
                        task_metadata, backbone, conv_filters)


def additive_conditioned(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), task_descriptor="onehot",
                         descriptor_dim=8, task_metadata=None, backbone="mlp", conv_filters=(16, 32)):
    """Additive conditioning (slide 13): every hidden layer is act(h @ W + z_t @ P + b)."""
    return _conditioned("additive", input_shape, tasks, hidden_units, tower_units, task_descriptor,
                        descriptor_dim, task_metadata, backbone, conv_filters)


def multiplicative_conditioned(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,),
                               task_descriptor="onehot", descriptor_dim=8, task_metadata=None, backbone="mlp",
                               conv_filters=(16, 32)):
    """Multiplicative conditioning (slide 14): every hidden layer is act((h @ W + b) * (z_t @ S))."""
    return _conditioned("multiplicative", input_shape, tasks, hidden_units, tower_units, task_descriptor,
                        descriptor_dim, task_metadata, backbone, conv_filters)


def film_conditioned(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), task_descriptor="onehot",
                     descriptor_dim=8, task_metadata=None, backbone="mlp", conv_filters=(16, 32)):
    """FiLM (feature-wise scale and shift): every hidden layer is act((h @ W + b) * (z_t @ S) + z_t @ R)."""
    return _conditioned("film", input_shape, tasks, hidden_units, tower_units, task_descriptor, descriptor_dim,
                        task_metadata, backbone, conv_filters)


for _builder in (concat_conditioned, additive_conditioned, multiplicative_conditioned, film_conditioned):
    _builder.__doc__ += _CONDITIONED_ARGS


def gated(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp", conv_filters=(16, 32)):
    """Multiplicative gating with one-hot z (slide 10): T independent networks in one model.

    Network j (stem and ``hidden_units`` MLP, all named as owned by task j) computes y_j(x);
    output t is task t's head on ``gated_outputs([y_1..y_T], onehot(t))`` -- so no parameter is
    shared and task t's loss gives exactly zero gradient to every other network.

    Args:
      input_shape, tasks, hidden_units, tower_units, backbone, conv_filters: as ``concat_conditioned``.
    Returns:
      A functional keras.Model obeying the contract; every variable is task-owned.
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    ys = []
    for t in tasks:
        h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, task_layer_name(t.name, "stem"))
        ys.append(mlp(h, hidden_units, task_layer_name(t.name, "hidden")))
    zs = TaskDescriptors(np.eye(len(tasks), dtype=np.float32), name="task_onehot")(ys[0])
    select = GatedSelect(name="gate")
    outputs = {t.name: task_head(select([*ys, z]), t, tower_units) for t, z in zip(tasks, zs)}
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="gated")
