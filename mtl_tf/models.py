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
from absl import flags

from mtl_tf import impl, ranking

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


# Builder flags; each lists the --model values that read it (see BUILDERS and the builders' docstrings).
flags.DEFINE_enum("backbone", "mlp", ["mlp", "conv"],
                  "Feature extractor: mlp (vectors; multi-axis features are flattened) or conv (a small conv "
                  "stem for images [H, W, C], shared or per task like the rest of the builder). All builders "
                  "except shared_bottom.")
flags.DEFINE_list("conv_filters", ["16", "32"], "Filters of the conv stem's 3x3 layers (--backbone=conv).")
flags.DEFINE_enum("task_descriptor", "onehot", ["onehot", "embedding", "metadata"],
                  "z_i for the conditioned builders (concat, additive, multiplicative, film): the one-hot task "
                  "index, a learned task embedding of --descriptor_dim, or a fixed per-task metadata matrix "
                  "[T, --descriptor_dim] (seeded random rows summing to 1 when the data supplies none).")
flags.DEFINE_integer("descriptor_dim", 8, "Width m of the task embedding / default metadata.", lower_bound=1)
flags.DEFINE_integer("num_experts", 4, "mmoe: number of shared experts; cgc/ple: shared experts per level.",
                     lower_bound=1)
flags.DEFINE_integer("num_task_experts", 1, "cgc/ple: task-specific experts per task and level.", lower_bound=1)
flags.DEFINE_integer("num_levels", 2, "ple: number of extraction levels (1 = cgc).", lower_bound=1)
flags.DEFINE_list("expert_units", ["32"], "mmoe/cgc/ple: widths of each expert's hidden layers.")
flags.DEFINE_float("gate_dropout", 0.0, "mmoe/cgc/ple: probability of dropping an expert from a gate during "
                   "training (the rest are renormalised).", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_float("soft_sharing_weight", 1e-3, "soft_sharing: lambda of lambda * sum_{t<t'} ||theta_t - "
                   "theta_t'||^2 over the task columns' hidden layers.", lower_bound=0.0)
flags.DEFINE_list("cross_stitch_init", ["0.9", "0.1"], "cross_stitch, sluice: initial (alpha_same, alpha_other); "
                  "(1, 0) starts as independent networks.")
flags.DEFINE_integer("num_subspaces", 2, "sluice: subspaces per layer (hidden widths must be divisible by it).",
                     lower_bound=1)
flags.DEFINE_float("sluice_orthogonality", 0.0, "sluice: weight of the penalty keeping a column's subspaces "
                   "orthogonal.", lower_bound=0.0)
flags.DEFINE_float("relation_weight", 1e-3, "deep_relation: weight of the matrix-normal prior "
                   "tr(W Omega^-1 W^T) on the task towers.", lower_bound=0.0)


def _float_pair(values):
    try:
        return len(values) == 2 and all(float(v) >= 0 for v in values)
    except ValueError:
        return False


flags.register_validator("cross_stitch_init", _float_pair,
                         message="--cross_stitch_init must be two non-negative numbers: alpha_same,alpha_other.")
flags.register_validator("conv_filters", _positive_int_list,
                         message="--conv_filters must be a comma-separated list of positive integers.")
flags.register_validator("expert_units", _positive_int_list,
                         message="--expert_units must be a comma-separated list of positive integers.")
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
    """A ``--model`` value: which graded function builds it and which flags it takes."""
    function: str                      # name in the implementation's ``module``
    doc: str
    hparams: Callable[[flags.FlagValues], dict]
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


def build_model(name: str, input_shape, tasks, flag_values=None) -> keras.Model:
    """Build the ``--model`` called ``name`` for ``tasks`` and check the contract.

    With ``--position_tower`` the checked model is wrapped by ``mtl_tf.ranking.with_position_tower``
    (extra inputs ``position`` and ``device``; serve ``ranking.serving_model`` of it).
    """
    if name not in BUILDERS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(BUILDERS)}.")
    spec = BUILDERS[name]
    fv = flag_values if flag_values is not None else flags.FLAGS
    fn = getattr(impl.module(spec.module), spec.function)
    model = fn(tuple(input_shape), list(tasks), **spec.hparams(fv))
    check_model_contract(model, tasks, input_shape)
    if getattr(fv, "position_tower", False):
        model = ranking.with_position_tower_from_flags(model, tasks, fv)
    return model
