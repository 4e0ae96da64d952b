"""Transfer learning: pre-train, then fine-tune on a target task with few labels.

Multi-task learning solves the tasks *together*; transfer learning solves a source problem
first and then reuses what was learned for a target task:

  1. pre-train a (multi-task) model on the related source tasks;
  2. keep its trunk (every shared layer, see ``mtl_tf.models.variable_owner``) and attach a new
     head sized for the target task (``reuse_trunk``);
  3. fine-tune on the target task's few labels: the head only with the trunk frozen
     (``set_trunk_trainable``), everything (often with a smaller learning rate on the trunk:
     ``split_gradients`` routes each gradient to the trunk's or the head's optimizer), or
     gradually: the head first, then everything (``finetune_phases``).

The framework (``mtl_tf.transfer``) loads the pre-trained checkpoint, runs the phases with the
Trainer and holds the two-rate optimizer; ``mtl-transfer`` compares fine-tuning with training
from scratch and with multi-task training on a sweep of target-set sizes.
"""

from typing import Dict, List, Sequence, Tuple

import keras

from mtl_tf.models import name_owner, task_layer_name, variable_owner

FINETUNE_MODES = ("head", "full", "gradual")


def layer_owner(layer, task_names: Sequence[str]):
    """The task owning ``layer`` by its name (``"<task>.<rest>"``), or None for a shared layer."""
    return name_owner(layer.name, task_names)


def head_inputs(model: keras.Model, tasks) -> Dict[str, keras.KerasTensor]:
    """{task name: the symbolic tensor the task's first own layer reads} for a contract model.

    For a shared-bottom model every task reads the same tensor: the trunk's output features
    [B, F]. Raises ValueError when a task owns no layer.
    """
    names = [t.name for t in tasks]
    found = {}
    for layer in model.layers:  # topological order: a task's first layer comes first
        owner = layer_owner(layer, names)
        if owner is not None and owner not in found:
            found[owner] = layer.input
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"No layer of the model is named as owned by task(s) {missing} "
                         f"(expected names like {task_layer_name(missing[0], 'out')!r}).")
    return found


def trunk_features(model: keras.Model, tasks) -> keras.KerasTensor:
    """The one tensor [B, F] every task head of ``model`` reads (the trunk's output).

    Raises ValueError, naming the layers, when the heads read different tensors (e.g. MMoE's
    per-task gates): such a model has no single trunk to reuse.
    """
    inputs = head_inputs(model, tasks)
    tensors = list(inputs.values())
    if any(t is not tensors[0] for t in tensors[1:]):
        shapes = {name: tuple(t.shape) for name, t in inputs.items()}
        raise ValueError(f"Model {model.name!r} has no single shared trunk: its task heads read different "
                         f"tensors {shapes}. Use a shared-trunk model (e.g. --model=shared_bottom).")
    return tensors[0]


def reuse_trunk(source_model: keras.Model, source_tasks, target_task, tower_units=(32,)) -> keras.Model:
    """A new contract model for ``target_task``: the pre-trained trunk plus a new head.

    Args:
      source_model: a pre-trained contract model with a single shared trunk (shared-bottom).
      source_tasks: the tasks it was trained on (their layers are its heads; drop them).
      target_task: the ``Task`` to fine-tune on.
      tower_units: widths of the new head's hidden layers (ReLU); may be empty.
    Returns:
      A functional ``keras.Model`` with the source model's inputs (``{"x", "task"}``) and
      outputs ``{target_task.name: [B, target_task.output_size]}``. The trunk layers must be
      the source model's own layers (same variables: the pre-trained weights, not copies and not
      freshly initialised ones); the new head's layers must be named as owned by the target task
      (``task_layer_name``) so the variable rule sees them as its head.

    Hint: ``trunk_features(source_model, source_tasks)`` is the tensor the old heads read; a
    ``keras.Model`` built from ``source_model.input`` to new tensors reuses the layers in between.
    """
    # BEGIN SOLUTION
    h = trunk_features(source_model, source_tasks)
    for i, units in enumerate(tower_units):
        h = keras.layers.Dense(units, activation="relu", name=task_layer_name(target_task.name, f"tower.{i}"))(h)
    out = keras.layers.Dense(target_task.output_size, name=task_layer_name(target_task.name, "out"))(h)
    return keras.Model(inputs=source_model.input, outputs={target_task.name: out}, name="transfer")
    # END SOLUTION


def set_trunk_trainable(model: keras.Model, tasks, trainable: bool) -> List[str]:
    """Freeze (``trainable=False``) or unfreeze the trunk of ``model``; the heads stay trainable.

    Args:
      model: a contract model.
      tasks: its tasks; a layer named ``"<task>.<rest>"`` is that task's head, any other layer
        with weights is part of the trunk.
      trainable: the new ``trainable`` flag of every trunk layer.
    Returns:
      The names of the trunk layers that were set, in ``model.layers`` order.

    In Keras 3, ``layer.trainable = False`` removes the layer's variables from
    ``model.trainable_variables``, so an optimizer step built afterwards cannot change them.
    Do not touch the heads' layers (and do not set ``model.trainable``: that freezes everything).
    """
    # BEGIN SOLUTION
    names = [t.name for t in tasks]
    changed = []
    for layer in model.layers:
        if layer.weights and layer_owner(layer, names) is None:
            layer.trainable = trainable
            changed.append(layer.name)
    return changed
    # END SOLUTION


def split_gradients(grads_and_vars, tasks) -> Tuple[list, list]:
    """Route each (gradient, variable) pair to the trunk's or the head's optimizer.

    Args:
      grads_and_vars: list of (gradient or None, variable) pairs, as given to
        ``optimizer.apply_gradients``.
      tasks: the model's tasks; ``mtl_tf.models.variable_owner(variable, task_names)`` is the
        task owning a variable (a head variable) or None (a trunk variable).
    Returns:
      (trunk_pairs, head_pairs): two lists of (gradient, variable) pairs, each in the input
      order, without the pairs whose gradient is None (a variable the loss does not reach).
      The trunk's optimizer uses a smaller learning rate (``--trunk_lr_scale``). Note that
      scaling the trunk's *gradients* would not do it: Adam's update is invariant to a constant
      gradient scale.
    """
    # BEGIN SOLUTION
    names = [t.name for t in tasks]
    trunk, head = [], []
    for g, v in grads_and_vars:
        if g is None:
            continue
        (trunk if variable_owner(v, names) is None else head).append((g, v))
    return trunk, head
    # END SOLUTION


def finetune_phases(mode: str, steps: int, head_steps: int) -> List[Tuple[str, int, bool]]:
    """The fine-tuning schedule as phases ``(name, number of steps, trunk trainable)``.

    Args:
      mode: "head" (train only the new head, trunk frozen, all ``steps``), "full" (train
        everything for ``steps``) or "gradual" (the head alone for ``head_steps`` steps, then
        everything for the rest of ``steps``).
      steps: total fine-tuning steps (>= 1).
      head_steps: "gradual" only: steps of the head-only phase (>= 0).
    Returns:
      A list of phases: "head" mode -> ``[("head", steps, False)]``; "full" mode ->
      ``[("full", steps, True)]``; "gradual" -> ``[("head", h, False), ("full", steps - h, True)]``
      with ``h = min(head_steps, steps)``, leaving out a phase with 0 steps. The steps of the
      phases always add up to ``steps``. Raise ValueError for an unknown mode.
    """
    # BEGIN SOLUTION
    if mode not in FINETUNE_MODES:
        raise ValueError(f"finetune mode must be one of {FINETUNE_MODES}, got {mode!r}.")
    if mode == "head":
        return [("head", steps, False)]
    if mode == "full":
        return [("full", steps, True)]
    h = min(head_steps, steps)
    phases = [("head", h, False), ("full", steps - h, True)]
    return [p for p in phases if p[1] > 0]
    # END SOLUTION
