"""The one model contract, the shared/task-specific variable rule, and the builder registry.

Contract (every builder, simple or complex, returns a functional ``keras.Model``):

* inputs: ``{"x": [B, *input_shape] float32, "task": [B] int32}`` -- the features and
  the id of the task each example was drawn for (z_i as an index);
* outputs: ``{task.name: [B, task.output_size]}`` for every task: output ``t`` is the
  model's prediction *for task t* on every example (raw: logits for classification).

Variable rule (one rule for every builder): a layer whose name starts with
``"<task name>."`` belongs to that task (``task_layer_name`` builds such names), also when
it sits inside a container layer without a task prefix (e.g. ``mtl_tf.layers.TaskColumnsDense``:
the first prefixed name on the variable's path decides); every other trainable variable is
shared. Gradient methods act on the shared variables; each task's own variables take that
task's gradient.
"""

import dataclasses
from typing import Callable, Dict, List, Sequence, Tuple

import keras
import numpy as np

from mtl_tf import impl
from mtl_tf.options import resolve

SEPARATOR = "."

# The builders' keyword options and their defaults (lists as comma-separated flags give them: strings of
# numbers). Each ``Builder`` reads the ones its ``hparams`` names; see the builders' docstrings.
OPTIONS = {
    "hidden_units": ["64", "64"],          # widths of the shared (or per-task) hidden layers
    "tower_units": ["32"],                 # widths of each task's tower (head) hidden layers; [] = linear head
    "backbone": "mlp",                     # mlp | conv (a small conv stem for images)
    "conv_filters": ["16", "32"],          # filters of the conv stem's 3x3 layers
    "task_descriptor": "onehot",           # z_i of the conditioned builders: onehot | embedding | metadata
    "descriptor_dim": 8,                   # width of the task embedding / default metadata
    "num_experts": 4,                      # mmoe: shared experts; cgc/ple: shared experts per level
    "num_task_experts": 1,                 # cgc/ple: task-specific experts per task and level
    "num_levels": 2,                       # ple: extraction levels
    "expert_units": ["32"],                # mmoe/cgc/ple: widths of each expert's hidden layers
    "gate_dropout": 0.0,                   # mmoe/cgc/ple: probability of dropping an expert from a gate
    "soft_sharing_weight": 1e-3,           # soft_sharing: lambda of the ||theta_t - theta_t'||^2 penalty
    "cross_stitch_init": ["0.9", "0.1"],   # cross_stitch, sluice: initial (alpha_same, alpha_other)
    "num_subspaces": 2,                    # sluice: subspaces per layer
    "sluice_orthogonality": 0.0,           # sluice: weight of the subspace-orthogonality penalty
    "relation_weight": 1e-3,               # deep_relation: weight of the matrix-normal prior
}
BACKBONES = ("mlp", "conv")
TASK_DESCRIPTORS = ("onehot", "embedding", "metadata")


def model_inputs(input_shape: Sequence[int]) -> Dict[str, keras.KerasTensor]:
    """The contract's inputs: ``{"x": Input(input_shape), "task": Input((), int32)}``."""
    return {"x": keras.Input(shape=tuple(input_shape), name="x", dtype="float32"),
            "task": keras.Input(shape=(), name="task", dtype="int32")}


def task_layer_name(task_name: str, name: str) -> str:
    """Name for a layer owned by one task, e.g. ``task_layer_name("click", "head")`` -> "click.head"."""
    return f"{task_name}{SEPARATOR}{name}"


def name_owner(layer_name: str, task_names: Sequence[str]):
    """The task a layer name ``"<task>.<rest>"`` belongs to, or None for a shared layer's name."""
    if SEPARATOR in layer_name:
        owner = layer_name.split(SEPARATOR, 1)[0]
        if owner in task_names:
            return owner
    return None


def variable_owner(variable, task_names: Sequence[str]):
    """The task owning ``variable`` (by its layer-name prefix), or None if it is shared.

    The variable's path (``"layer/sublayer/kernel"``) is read from the outside in; the first
    layer name of the form ``"<task>.<rest>"`` decides.
    """
    for part in variable.path.split("/")[:-1]:
        owner = name_owner(part, task_names)
        if owner is not None:
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
    """A ``--model`` value: which graded function builds it and its keyword arguments, made from the
    options namespace (every name of ``OPTIONS``) by ``hparams``."""
    function: str                      # name in the implementation's ``module``
    doc: str
    hparams: Callable[[object], dict]
    module: str = "architectures"      # graded module holding ``function``


def _mlp_hparams(fv):
    return {"hidden_units": [int(u) for u in fv.hidden_units],
            "tower_units": [int(u) for u in fv.tower_units]}


def _ints(values):
    return [int(v) for v in values]


def _backbone_hparams(fv):
    return {"backbone": fv.backbone, "conv_filters": _ints(fv.conv_filters)}


def _columns_hparams(fv):
    return {**_mlp_hparams(fv), **_backbone_hparams(fv)}


def _conditioned_hparams(fv):
    return {**_columns_hparams(fv), "task_descriptor": fv.task_descriptor, "descriptor_dim": fv.descriptor_dim}


def _experts_hparams(fv):
    return {"num_experts": fv.num_experts, "expert_units": _ints(fv.expert_units),
            "tower_units": _ints(fv.tower_units), "gate_dropout": fv.gate_dropout, **_backbone_hparams(fv)}


def _ple_hparams(fv):
    return {**_experts_hparams(fv), "num_task_experts": fv.num_task_experts, "num_levels": fv.num_levels}


def _cgc_hparams(fv):
    return {**_experts_hparams(fv), "num_task_experts": fv.num_task_experts}


BUILDERS: Dict[str, Builder] = {
    "shared_bottom": Builder("shared_bottom", "hard parameter sharing: shared MLP, one tower per task",
                             _mlp_hparams),
    "multi_head": Builder("shared_bottom", "the multi-head architecture (slide 14) = shared_bottom", _mlp_hparams),
    "independent": Builder("independent", "no sharing: one network per task", _columns_hparams),
    "soft_sharing": Builder("soft_sharing", "independent columns + soft_sharing_weight * sum ||theta_t - theta_t'||^2",
                            lambda fv: {**_columns_hparams(fv), "soft_sharing_weight": fv.soft_sharing_weight}),
    "cross_stitch": Builder("cross_stitch", "task columns mixed per channel by cross-stitch units",
                            lambda fv: {**_columns_hparams(fv),
                                        "cross_stitch_init": tuple(float(v) for v in fv.cross_stitch_init)}),
    "sluice": Builder("sluice", "cross-stitch between the columns' subspaces plus learned layer weights",
                      lambda fv: {**_columns_hparams(fv),
                                  "cross_stitch_init": tuple(float(v) for v in fv.cross_stitch_init),
                                  "num_subspaces": fv.num_subspaces, "orthogonality": fv.sluice_orthogonality}),
    "mmoe": Builder("mmoe", "multi-gate mixture of experts", _experts_hparams),
    "cgc": Builder("cgc", "customized gate control: shared + task-specific experts", _cgc_hparams),
    "ple": Builder("ple", "progressive layered extraction: stacked CGC levels with shared-expert gates",
                   _ple_hparams),
    "mtan": Builder("mtan", "shared trunk, per-task soft attention masks (MTAN style)", _columns_hparams),
    "deep_relation": Builder("deep_relation", "shared trunk, towers tied by a learned task covariance",
                             lambda fv: {**_columns_hparams(fv), "relation_weight": fv.relation_weight}),
    "concat": Builder("concat_conditioned", "every hidden layer sees [h, z_t]", _conditioned_hparams,
                      "conditioning"),
    "additive": Builder("additive_conditioned", "every hidden layer adds a projection of z_t", _conditioned_hparams,
                        "conditioning"),
    "multiplicative": Builder("multiplicative_conditioned", "every hidden layer is scaled feature-wise by z_t",
                              _conditioned_hparams, "conditioning"),
    "film": Builder("film_conditioned", "feature-wise scale and shift by z_t (FiLM)", _conditioned_hparams,
                    "conditioning"),
    "gated": Builder("gated", "multiplicative gating with one-hot z: independent networks in one model",
                     _columns_hparams, "conditioning"),
    "mmoe_shared": Builder("mmoe_on_shared", "MMoE whose experts and gates sit on a shared hidden layer "
                           "(the YouTube ranker)",
                           lambda fv: {**_experts_hparams(fv), "hidden_units": _ints(fv.hidden_units)}, "ranking"),
}


def build_model(name: str, input_shape, tasks, values=None, **options) -> keras.Model:
    """Build the registered model ``name`` for ``tasks`` and check the contract.

    ``options``: keywords of ``OPTIONS`` (e.g. ``build_model("mmoe", (10,), tasks, num_experts=8)``);
    any other is read from ``values``'s attributes (the apps pass their parsed flags), else its
    default. A shallow position tower is added by ``mtl_tf.ranking.build_model``.
    """
    if name not in BUILDERS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(BUILDERS)}.")
    spec = BUILDERS[name]
    fn = getattr(impl.module(spec.module), spec.function)
    model = fn(tuple(input_shape), list(tasks), **spec.hparams(resolve(OPTIONS, values, options, "model option")))
    check_model_contract(model, tasks, input_shape)
    return model
