"""The shared representation Z of a contract model, and views of the model around it (MGDA-UB).

``shared_representation(model, tasks)`` finds Z: the output of the shared layer closest to the
outputs such that every task output depends on Z and reaches no shared trainable layer except
through Z. ``TrunkAndHeads`` holds a view of the model's own layers from the features to Z and,
per task, from a copy of Z to that task's output (so each task's head can read its own copy).
"""

import keras

from mtl_tf.models import variable_owner


def model_outputs(model, tasks) -> dict:
    """{task name: the model's symbolic output for it}."""
    if isinstance(model.output, dict):
        return dict(model.output)
    return dict(zip([t.name for t in tasks], model.outputs))


def shared_representation(model, tasks):
    """The shared representation Z (a symbolic tensor of ``model``); ValueError (one line) if the
    model has none."""
    names = [t.name for t in tasks]
    outputs = model_outputs(model, tasks)
    for layer in reversed(model.layers):
        if not layer.trainable_weights or _owner(layer, names) is not None or len(layer._inbound_nodes) != 1:
            continue
        z = layer.output
        if all(_only_through(outputs[n], z, names) for n in names):
            return z
    raise ValueError(f"--grad_method=mgda_ub needs one shared representation that every task's output reads "
                     f"and that all shared weights feed; model {model.name!r} has none (use --grad_method=mgda).")


def _owner(layer, task_names):
    return variable_owner(layer.trainable_weights[0], task_names) if layer.trainable_weights else None


def _only_through(output, z, task_names) -> bool:
    """Whether ``output`` depends on ``z`` and on shared trainable layers only through ``z``."""
    stack, seen, found = [output], set(), False
    while stack:
        t = stack.pop()
        if t is z:
            found = True
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        op, node_index, _ = t._keras_history
        if op.trainable_weights and _owner(op, task_names) is None:
            return False
        stack.extend(op._inbound_nodes[node_index].input_tensors)
    return found


class TrunkAndHeads:
    """Plain holder (not tracked by tf.Module, the model holds the variables): ``trunk`` maps the
    features to Z, ``heads[task](z, features)`` maps a copy of Z to the task's output."""

    def __init__(self, model, tasks):
        rep = shared_representation(model, tasks)
        outputs = model_outputs(model, tasks)
        self.trunk = keras.Model(model.input, rep)
        self.heads = {t.name: _head(rep, model, outputs[t.name]) for t in tasks}


def _head(rep, model, output):
    """Callable (z, features) -> the task's output, computed from ``z`` in place of Z."""
    try:   # the usual head reads Z only
        head = keras.Model(rep, output)
        return lambda z, features: head(z, training=True)
    except ValueError:   # it also reads model inputs (e.g. a position tower)
        head = keras.Model([rep, model.input], output)
        return lambda z, features: head([z, features], training=True)
