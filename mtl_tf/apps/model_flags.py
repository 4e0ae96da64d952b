"""Flags of the ``model`` help group: ``--model`` and the builders' options (``mtl_tf.models.OPTIONS``),
the shallow position tower and the ranking score (``mtl_tf.ranking.TOWER_OPTIONS``, ``SCORE_OPTIONS``).
Defaults come from those declarations."""

import math

from absl import flags

from mtl_tf.models import BACKBONES, BUILDERS, OPTIONS as MODEL, TASK_DESCRIPTORS
from mtl_tf.ranking import SCORE_COMBINES, SCORE_OPTIONS as SCORE, TOWER_OPTIONS as TOWER


def _positive_int_list(values):
    try:
        return all(int(v) > 0 for v in values)
    except ValueError:
        return False


def _float_pair(values):
    try:
        return len(values) == 2 and all(float(v) >= 0 for v in values)
    except ValueError:
        return False


def _non_negative_floats(values):
    try:
        return all(float(v) >= 0 and math.isfinite(float(v)) for v in values)
    except ValueError:
        return False


flags.DEFINE_enum("model", "shared_bottom", sorted(BUILDERS), "Which architecture builder to use.")
flags.DEFINE_list("hidden_units", MODEL["hidden_units"],
                  "Widths of the shared (or per-task) hidden layers, comma separated.")
flags.DEFINE_list("tower_units", MODEL["tower_units"],
                  "Widths of each task's tower (head) hidden layers, comma separated; "
                  "empty for a linear head.")
flags.DEFINE_enum("backbone", MODEL["backbone"], list(BACKBONES),
                  "Feature extractor: mlp (vectors; multi-axis features are flattened) or conv (a small conv "
                  "stem for images [H, W, C], shared or per task like the rest of the builder). All builders "
                  "except shared_bottom.")
flags.DEFINE_list("conv_filters", MODEL["conv_filters"], "Filters of the conv stem's 3x3 layers (--backbone=conv).")
flags.DEFINE_enum("task_descriptor", MODEL["task_descriptor"], list(TASK_DESCRIPTORS),
                  "z_i for the conditioned builders (concat, additive, multiplicative, film): the one-hot task "
                  "index, a learned task embedding of --descriptor_dim, or a fixed per-task metadata matrix "
                  "[T, --descriptor_dim] (seeded random rows summing to 1 when the data supplies none).")
flags.DEFINE_integer("descriptor_dim", MODEL["descriptor_dim"], "Width m of the task embedding / default metadata.", lower_bound=1)
flags.DEFINE_integer("num_experts", MODEL["num_experts"], "mmoe: number of shared experts; cgc/ple: shared experts per level.",
                     lower_bound=1)
flags.DEFINE_integer("num_task_experts", MODEL["num_task_experts"], "cgc/ple: task-specific experts per task and level.", lower_bound=1)
flags.DEFINE_integer("num_levels", MODEL["num_levels"], "ple: number of extraction levels (1 = cgc).", lower_bound=1)
flags.DEFINE_list("expert_units", MODEL["expert_units"], "mmoe/cgc/ple: widths of each expert's hidden layers.")
flags.DEFINE_float("gate_dropout", MODEL["gate_dropout"], "mmoe/cgc/ple: probability of dropping an expert from a gate during "
                   "training (the rest are renormalised).", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_float("soft_sharing_weight", MODEL["soft_sharing_weight"], "soft_sharing: lambda of lambda * sum_{t<t'} ||theta_t - "
                   "theta_t'||^2 over the task columns' hidden layers.", lower_bound=0.0)
flags.DEFINE_list("cross_stitch_init", MODEL["cross_stitch_init"], "cross_stitch, sluice: initial (alpha_same, alpha_other); "
                  "(1, 0) starts as independent networks.")
flags.DEFINE_integer("num_subspaces", MODEL["num_subspaces"], "sluice: subspaces per layer (hidden widths must be divisible by it).",
                     lower_bound=1)
flags.DEFINE_float("sluice_orthogonality", MODEL["sluice_orthogonality"], "sluice: weight of the penalty keeping a column's subspaces "
                   "orthogonal.", lower_bound=0.0)
flags.DEFINE_float("relation_weight", MODEL["relation_weight"], "deep_relation: weight of the matrix-normal prior "
                   "tr(W Omega^-1 W^T) on the task towers.", lower_bound=0.0)
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

# the shallow position tower and the ranking score
flags.DEFINE_bool("position_tower", TOWER["position_tower"], "Add a shallow tower on (position, device) whose bias logit is added to "
                  "the --position_bias_task logit in training; serving treats position as missing. The data "
                  "must have 'position' and 'device' features (--dataset=recommendation).")
flags.DEFINE_float("position_dropout", TOWER["position_dropout"], "Shallow tower: probability of hiding an example's position during "
                   "training (teaches the tower the 'missing' position used at serving).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("position_buckets", TOWER["position_buckets"], "Shallow tower: positions 1..N get their own embedding (larger ones "
                     "share the last).", lower_bound=1)
flags.DEFINE_integer("device_buckets", TOWER["device_buckets"], "Shallow tower: number of device ids (larger ids share the last).",
                     lower_bound=1)
flags.DEFINE_integer("position_tower_units", TOWER["position_tower_units"], "Shallow tower: width of its one hidden layer.", lower_bound=1)
flags.DEFINE_string("position_bias_task", TOWER["position_bias_task"], "Shallow tower: the (binary) task whose logit gets the bias.")
flags.DEFINE_list("score_weights", SCORE["score_weights"], "Ranking score: one non-negative weight per task, in the data's task order "
                  "(empty: 1 for every task).")
flags.DEFINE_enum("score_combine", SCORE["score_combine"], list(SCORE_COMBINES), "Ranking score: weighted sum of the task "
                  "predictions, or weighted product (prod p_t ** w_t); predictions are mapped into (0, 1) first.")
flags.DEFINE_integer("ndcg_k", SCORE["ndcg_k"], "Ranking evaluation: NDCG cut-off k.", lower_bound=1)
flags.register_validator("score_weights", _non_negative_floats,
                         message="--score_weights must be comma-separated non-negative numbers, one per task.")
