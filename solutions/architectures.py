"""Sharing architectures: how much of the network the tasks share.

Every builder follows the model contract of ``mtl_tf.models``:
inputs ``{"x": [B, *input_shape], "task": [B] int32}``, outputs
``{task.name: [B, task.output_size]}`` (raw outputs: logits for classification).
Layers that belong to one task are named with ``task_layer_name(task.name, ...)``;
every other layer is shared.
"""

import keras

from mtl_tf.models import model_inputs, task_layer_name


def mlp(h, units, name: str, activation: str = "relu"):
    """Stack of Dense layers named ``{name}.0``, ``{name}.1``, ... applied to ``h``."""
    for i, u in enumerate(units):
        h = keras.layers.Dense(u, activation=activation, name=f"{name}.{i}")(h)
    return h


def task_head(h, task, tower_units):
    """One task's tower and output layer, all named as owned by ``task``.

    Args:
      h: [B, F] features.
      task: an ``mtl_tf.tasks.Task``.
      tower_units: widths of the tower's hidden layers (may be empty).
    Returns:
      [B, task.output_size] raw outputs.
    """
    h = mlp(h, tower_units, task_layer_name(task.name, "tower"))
    return keras.layers.Dense(task.output_size, name=task_layer_name(task.name, "out"))(h)


def shared_bottom(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,)) -> keras.Model:
    """Hard parameter sharing (slide 14's multi-head architecture, "shared-bottom" in MMoE).

    x -> shared MLP (``hidden_units``, ReLU) -> for each task: its own tower
    (``tower_units``, ReLU) and a linear output of width ``task.output_size``.

    Args:
      input_shape: shape of one example's features, e.g. (100,). Flatten it if it
        has more than one axis.
      tasks: list of ``Task``.
      hidden_units: widths of the shared layers.
      tower_units: widths of each task's tower.
    Returns:
      A functional ``keras.Model`` obeying the contract. Shared layers must not be
      named with a task prefix; each task's layers must be (use ``task_head``).
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    h = inputs["x"]
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    h = mlp(h, hidden_units, "shared")
    outputs = {t.name: task_head(h, t, tower_units) for t in tasks}
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="shared_bottom")
