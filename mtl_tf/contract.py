"""The model contract, checked: what a Keras model must look like to train here.

* inputs: a dict with ``"x"`` (features) and optionally ``"task"`` (int32 task id, z_i as an index)
  and other feature keys of the data;
* outputs: a dict (or list, in task order) with one output per task, ``[B, task.output_size]``;
* the variable rule: a layer named ``"<task>.<rest>"`` (``mtl_tf.models.task_layer_name``) belongs
  to that task, every other layer is shared. Gradient methods combine the tasks' gradients of the
  SHARED variables only (a task's own variables take the ordinary gradient of the objective, also
  when, as in cross-stitch columns, they feed other tasks too), so a layer that only one task's
  output reads must carry that task's name.

``check_contract(model, tasks)`` raises one ValueError that says what is wrong and how to fix it;
the Trainer and the Keras ``fit`` path call it before building anything.
"""

from typing import Dict, Set

import keras

from mtl_tf.models import check_model_contract, name_owner


def check_contract(model, tasks, feature_keys=None) -> None:
    """ValueError (one line) unless ``model`` follows the contract for ``tasks``.

    ``feature_keys``: the data's feature keys, when known (then every model input must be one of
    them or ``"task"``)."""
    names = [t.name for t in tasks]
    if not isinstance(model, keras.Model):
        raise ValueError(f"the model must be a keras.Model, got {type(model).__name__}.")
    inputs = getattr(model, "input", None)
    if not isinstance(inputs, dict) or "x" not in inputs:
        raise ValueError("the model's input must be a dict with 'x' (the features) and optionally 'task' (int32 "
                         "task id), e.g. keras.Model(mtl_tf.models.model_inputs(input_shape), outputs); got "
                         f"{_describe_inputs(inputs)}.")
    if feature_keys is not None:
        extra = sorted(set(inputs) - set(feature_keys) - {"task"})
        if extra:
            raise ValueError(f"the model reads input(s) {extra} that the data does not have (its features: "
                             f"{sorted(feature_keys)}, plus 'task').")
    if set(inputs) <= {"x", "task"}:   # one output per task, of the right size (a call on zeros)
        check_model_contract(model, tasks, tuple(inputs["x"].shape[1:]))
    outputs = _outputs_by_task(model, names)
    for t in tasks:
        if t.name not in outputs or outputs[t.name].shape[-1] != t.output_size:
            raise ValueError(f"the model needs an output {t.name!r} of size {t.output_size} (a {t.kind} task).")
    readers = _readers(model, outputs)
    for layer in model.layers:
        if not layer.trainable_weights:
            continue
        owner = name_owner(layer.name, names)
        users = readers.get(id(layer), set())
        if owner is None and len(names) > 1 and len(users) == 1:
            (only,) = users
            raise ValueError(f"layer {layer.name!r} feeds only task {only!r} but its name does not say so, so its "
                             f"variables would count as shared: name it {only + '.' + layer.name!r} "
                             "(mtl_tf.models.task_layer_name(task, name)).")


def _describe_inputs(inputs) -> str:
    if isinstance(inputs, dict):
        return f"a dict with keys {sorted(inputs)}"
    return f"a {type(inputs).__name__}"


def _outputs_by_task(model, names) -> Dict[str, object]:
    """{task: the model's symbolic output} (a dict output by key, a list in task order)."""
    output = model.output
    return {n: output[n] for n in names if n in output} if isinstance(output, dict) else dict(zip(names, model.outputs))


def _readers(model, outputs) -> Dict[int, Set[str]]:
    """{id(layer): the tasks whose output depends on that layer}."""
    readers: Dict[int, Set[str]] = {}
    for task, output in outputs.items():
        stack, seen = [output], set()
        while stack:
            tensor = stack.pop()
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            history = getattr(tensor, "_keras_history", None)
            if history is None:
                continue
            layer, node_index, _ = history
            readers.setdefault(id(layer), set()).add(task)
            for sub in _sublayers(layer):
                readers.setdefault(id(sub), set()).add(task)
            stack.extend(layer._inbound_nodes[node_index].input_tensors)
    return readers


def _sublayers(layer):
    """Layers nested inside ``layer`` (a layer that is a model, or holds layers)."""
    return [s for s in getattr(layer, "_flatten_layers", lambda **_: [])(include_self=False, recursive=True)]
