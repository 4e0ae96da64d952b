"""Flags of the ``objective`` help group: ``--objective`` and each objective's options (declared on its
class, ``mtl_tf.objectives.option_defaults()``), ``--grad_method`` and each method's options
(``mtl_tf.methods.METHODS[name].options``): option ``o`` of method ``name`` is the flag
``--<family>_<o>`` (``method_flag``), the family being the name up to its first ``_`` (``mgda_ub``'s is
``mgda``, so ``--mgda_max_iterations`` sets both MGDAs'). Defaults come from those declarations."""

from absl import flags

from mtl_tf.methods import METHODS
from mtl_tf.objectives import OBJECTIVES, option_defaults

OBJECTIVE = option_defaults()


def method_flag(name: str, option: str) -> str:
    """The flag that sets option ``option`` of gradient method ``name``."""
    return f"{name.split('_')[0]}_{option}"


def method_default(flag: str):
    """The registry's default of the method option that ``flag`` sets."""
    return next(entry.options[o] for name, entry in METHODS.items() if entry for o in entry.options
                if method_flag(name, o) == flag)

flags.DEFINE_enum("objective", "sum", sorted(OBJECTIVES), "How the per-task losses become one scalar.")
flags.DEFINE_list("task_weights", list(OBJECTIVE["task_weights"]), "--objective=weighted: one non-negative weight per task, comma separated, "
                  "in the dataset's task order.")
flags.DEFINE_float("minmax_temperature", OBJECTIVE["minmax_temperature"], "--objective=minmax: 0 for the hard max over tasks, tau > 0 for "
                   "the smooth tau*logsumexp(L/tau).", lower_bound=0.0)
flags.DEFINE_float("dwa_temperature", OBJECTIVE["dwa_temperature"], "--objective=dwa: softmax temperature tau (> 0).")
flags.register_validator("dwa_temperature", lambda v: v > 0, message="--dwa_temperature must be > 0.")
flags.DEFINE_integer("dwa_epoch_steps", OBJECTIVE["dwa_epoch_steps"], "--objective=dwa: steps per 'epoch' of loss averaging.",
                     lower_bound=1)
flags.DEFINE_float("gradnorm_alpha", OBJECTIVE["gradnorm_alpha"], "--objective=gradnorm: asymmetry alpha (>= 0).", lower_bound=0.0)
flags.DEFINE_float("gradnorm_lr", OBJECTIVE["gradnorm_lr"], "--objective=gradnorm: learning rate of the task weights (> 0).")
flags.register_validator("gradnorm_lr", lambda v: v > 0, message="--gradnorm_lr must be > 0.")
# the zoo's loss weightings (mtl_tf/objectives.py: formulas, defaults and references in their docstrings)
flags.DEFINE_float("stch_mu", OBJECTIVE["stch_mu"], "--objective=stch: smoothing mu (> 0) of the Tchebycheff max.")
flags.register_validator("stch_mu", lambda v: v > 0, message="--stch_mu must be > 0.")
flags.DEFINE_integer("stch_warmup_epochs", OBJECTIVE["stch_warmup_epochs"], "--objective=stch: epochs of sum log L "
                     "before the nadir point is recorded (over one more epoch).", lower_bound=0)
flags.DEFINE_integer("stch_epoch_steps", OBJECTIVE["stch_epoch_steps"], "--objective=stch: steps per 'epoch'.",
                     lower_bound=1)
flags.DEFINE_float("famo_w_lr", OBJECTIVE["famo_w_lr"], "--objective=famo: Adam learning rate of the loss logits (> 0).")
flags.register_validator("famo_w_lr", lambda v: v > 0, message="--famo_w_lr must be > 0.")
flags.DEFINE_float("famo_w_gamma", OBJECTIVE["famo_w_gamma"], "--objective=famo: weight decay of the loss logits.",
                   lower_bound=0.0)

flags.DEFINE_enum("grad_method", "none", list(METHODS),
                  "How per-task gradients of the shared variables become one update: none (back-propagate "
                  "the objective), pcgrad, mgda (the exact min-norm point), mgda_ub (MGDA on the shared "
                  "representation), cagrad, imtl (IMTL-G); the zoo (mtl_tf/methods/zoo.py): mean, constant, "
                  "random (RLW), upgrad, dualproj, aligned_mtl, nash_mtl, fairgrad, krum, config, trimmed_mean, "
                  "graddrop; with per-step state (mtl_tf/methods/zoo2.py): gradvac, db_mtl (with --objective=log), "
                  "excess_mtl, moco, modo, sdmgrad.")
flags.DEFINE_float("cagrad_c", method_default("cagrad_c"), "CAGrad's conflict-averse radius c (>= 0; 0 gives the "
                   "mean gradient).", lower_bound=0.0)
flags.DEFINE_integer("mgda_max_iterations", method_default("mgda_max_iterations"), "Iterations at most of MGDA's "
                     "min-norm solver.", lower_bound=1)
# the zoo's options (mtl_tf/methods/zoo.py)
flags.DEFINE_list("constant_weights", list(method_default("constant_weights")), "--grad_method=constant: one weight "
                  "per task, comma separated (empty: all 1).")
flags.DEFINE_float("upgrad_reg_eps", method_default("upgrad_reg_eps"), "UPGrad: reg_eps I added to G / tr(G).",
                   lower_bound=0.0)
flags.DEFINE_float("dualproj_reg_eps", method_default("dualproj_reg_eps"), "DualProj: reg_eps I added to G / tr(G).",
                   lower_bound=0.0)
flags.DEFINE_enum("aligned_scale_mode", method_default("aligned_scale_mode"), ["min", "median", "rmse"],
                  "Aligned-MTL: the eigenvalue the balanced directions are scaled to.")
flags.DEFINE_float("nash_max_norm", method_default("nash_max_norm"), "Nash-MTL: clip the update to this norm "
                   "(0: no clip).", lower_bound=0.0)
flags.DEFINE_float("nash_reg_eps", method_default("nash_reg_eps"), "Nash-MTL: reg_eps I added to G / ||G||_F.",
                   lower_bound=0.0)
flags.DEFINE_float("fairgrad_alpha", method_default("fairgrad_alpha"), "FairGrad: fairness alpha (> 0; 1 is "
                   "proportional fairness).")
flags.register_validator("fairgrad_alpha", lambda v: v > 0, message="--fairgrad_alpha must be > 0.")
flags.DEFINE_float("fairgrad_reg_eps", method_default("fairgrad_reg_eps"), "FairGrad: reg_eps I added to G / tr(G).",
                   lower_bound=0.0)
flags.DEFINE_integer("krum_n_byzantine", method_default("krum_n_byzantine"), "Krum: rows that may be adversarial.",
                     lower_bound=0)
flags.DEFINE_integer("krum_n_selected", method_default("krum_n_selected"), "Krum: rows averaged (Multi-Krum).",
                     lower_bound=1)
flags.DEFINE_integer("trimmed_trim_number", method_default("trimmed_trim_number"), "TrimmedMean: values dropped at "
                     "each end of every coordinate.", lower_bound=0)
flags.DEFINE_float("graddrop_leak", method_default("graddrop_leak"), "GradDrop: leak in [0, 1] (1: the plain sum).",
                   lower_bound=0.0, upper_bound=1.0)
# part 2 (mtl_tf/methods/zoo2.py)
flags.DEFINE_float("gradvac_beta", method_default("gradvac_beta"), "GradVac: EMA rate in [0, 1] of the target cosines.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("db_beta", method_default("db_beta"), "DB-MTL: EMA factor in [0, 1] of the log-loss gradients.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("db_beta_sigma", method_default("db_beta_sigma"), "DB-MTL: the EMA factor decays as "
                   "beta / step^beta_sigma (>= 0).", lower_bound=0.0)
flags.DEFINE_float("excess_robust_step_size", method_default("excess_robust_step_size"), "ExcessMTL: step size of "
                   "the exponentiated weight update (>= 0).", lower_bound=0.0)
flags.DEFINE_float("excess_eps", method_default("excess_eps"), "ExcessMTL: eps in h = sqrt(sum g^2 + eps).",
                   lower_bound=0.0)
flags.DEFINE_float("moco_beta", method_default("moco_beta"), "MoCo: tracking rate in [0, 1] of y.", lower_bound=0.0,
                   upper_bound=1.0)
flags.DEFINE_float("moco_beta_sigma", method_default("moco_beta_sigma"), "MoCo: beta decays as beta / step^sigma.",
                   lower_bound=0.0)
flags.DEFINE_float("moco_gamma", method_default("moco_gamma"), "MoCo: step size of lambda (>= 0).", lower_bound=0.0)
flags.DEFINE_float("moco_gamma_sigma", method_default("moco_gamma_sigma"), "MoCo: gamma decays as gamma / step^sigma.",
                   lower_bound=0.0)
flags.DEFINE_float("moco_rho", method_default("moco_rho"), "MoCo: l2 regularisation of lambda's step.", lower_bound=0.0)
flags.DEFINE_enum("moco_lambda_update", method_default("moco_lambda_update"), ["projection", "softmax"],
                  "MoCo: lambda's map back to the simplex (projection: the paper's; softmax: LibMTL's).")
flags.DEFINE_float("modo_gamma", method_default("modo_gamma"), "MoDo: step size of lambda (>= 0).", lower_bound=0.0)
flags.DEFINE_float("modo_rho", method_default("modo_rho"), "MoDo: l2 regularisation of lambda's step.", lower_bound=0.0)
flags.DEFINE_float("sdmgrad_lamda", method_default("sdmgrad_lamda"), "SDMGrad: weight lamda (>= 0) of the mean "
                   "direction.", lower_bound=0.0)
flags.DEFINE_integer("sdmgrad_niter", method_default("sdmgrad_niter"), "SDMGrad: projected SGD steps on w per step.",
                     lower_bound=0)
