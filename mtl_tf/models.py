"""The one model contract, the shared/task-specific variable rule, and the builder registry.

Contract (every builder, simple or complex, returns a functional ``keras.Model``):

* inputs: ``{"x": [B, *input_shape] float32, "task": [B] int32}`` -- the features and
  the id of the task each example was drawn for (z_i as an index);
* outputs: ``{task.name: [B, task.output_size]}`` for every task: output ``t`` is the
  model's prediction *for task t* on every example (raw: logits for classification).

Variable rule (one rule for every builder): a layer whose name starts with
``"<task name>."`` belongs to that task (``task_layer_name`` builds such names); every
other trainable variable is shared. Gradient methods act on the shared variables;
each task's own variables take that task's gradient.
"""

import dataclasses
from typing import Callable, Dict, List, Sequence, Tuple

import keras
import numpy as np
from absl import flags

from mtl_tf import impl

SEPARATOR = "."

flags.DEFINE_list("hidden_units", ["64", "64"],
                  "Widths of the shared (or per-task) hidden layers, comma separated.")
flags.DEFINE_list("tower_units", ["32"],
                  "Widths of each task's tower (head) hidden layers, comma separated; "
                  "empty for a linear head.")


def _positive_int_list(values):
    try:
        return all(int(v) > 0 for v in values)
    except ValueError:
        return False


flags.register_validator("hidden_units", _positive_int_list,
                         message="--hidden_units must be a comma-separated list of positive integers.")
flags.register_validator("tower_units", _positive_int_list,
                         message="--tower_units must be a comma-separated list of positive integers.")


def model_inputs(input_shape: Sequence[int]) -> Dict[str, keras.KerasTensor]:
    """The contract's inputs: ``{"x": Input(input_shape), "task": Input((), int32)}``."""
    return {"x": keras.Input(shape=tuple(input_shape), name="x", dtype="float32"),
            "task": keras.Input(shape=(), name="task", dtype="int32")}


def task_layer_name(task_name: str, name: str) -> str:
    """Name for a layer owned by one task, e.g. ``task_layer_name("click", "head")`` -> "click.head"."""
    return f"{task_name}{SEPARATOR}{name}"


def variable_owner(variable, task_names: Sequence[str]):
    """The task owning ``variable`` (by its layer-name prefix), or None if it is shared."""
    top = variable.path.split("/", 1)[0]
    if SEPARATOR in top:
        owner = top.split(SEPARATOR, 1)[0]
        if owner in task_names:
            return owner
    return None


def split_variables(model: keras.Model, tasks) -> Tuple[List, Dict[str, List]]:
    """Trainable variables -> (shared list, {task name: list of that task's variables})."""
    names = [t.name for t in tasks]
    shared, own = [], {n: [] for n in names}
    for v in model.trainable_variables:
        owner = variable_owner(v, names)
        (shared if owner is None else own[owner]).append(v)
    return shared, own


def check_model_contract(model, tasks, input_shape, batch_size: int = 3) -> None:
    """Raise ValueError, in words a student can act on, if ``model`` breaks the contract."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"A builder must return a keras.Model, got {type(model).__name__}.")
    x = np.zeros((batch_size, *input_shape), np.float32)
    task = np.zeros((batch_size,), np.int32)
    try:
        out = model({"x": x, "task": task}, training=False)
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise ValueError(f"The model could not be called on inputs {{'x': {x.shape}, 'task': {task.shape}}}: {e}") from e
    if not isinstance(out, dict):
        raise ValueError(f"The model must return a dict {{task name: prediction}}, got {type(out).__name__}.")
    expected = sorted(t.name for t in tasks)
    if sorted(out) != expected:
        raise ValueError(f"The model's outputs are keyed {sorted(out)}, expected one per task: {expected}.")
    for t in tasks:
        shape = tuple(out[t.name].shape)
        if shape != (batch_size, t.output_size):
            raise ValueError(f"Output {t.name!r} has shape {shape}; expected ({batch_size}, {t.output_size}) "
                             f"for a {t.kind} task with batch size {batch_size}.")


@dataclasses.dataclass(frozen=True)
class Builder:
    """A ``--model`` value: which graded function builds it and which flags it takes."""
    function: str                      # name in the implementation's architectures module
    doc: str
    hparams: Callable[[flags.FlagValues], dict]


def _mlp_hparams(fv):
    return {"hidden_units": [int(u) for u in fv.hidden_units],
            "tower_units": [int(u) for u in fv.tower_units]}


BUILDERS: Dict[str, Builder] = {
    "shared_bottom": Builder("shared_bottom", "hard parameter sharing: shared MLP, one tower per task",
                             _mlp_hparams),
}


def build_model(name: str, input_shape, tasks, flag_values=None) -> keras.Model:
    """Build the ``--model`` called ``name`` for ``tasks`` and check the contract."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(BUILDERS)}.")
    spec = BUILDERS[name]
    fv = flag_values if flag_values is not None else flags.FLAGS
    fn = getattr(impl.module("architectures"), spec.function)
    model = fn(tuple(input_shape), list(tasks), **spec.hparams(fv))
    check_model_contract(model, tasks, input_shape)
    return model
