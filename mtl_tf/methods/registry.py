"""Every gradient method by name (``--grad_method``), with its constructor and options.

``make_method(name, tasks, model=..., objective=..., seed=..., **options)`` is the one way to
build one; ``METHODS[name]`` says what it is. The apps turn their flags into ``options``.
"""

import dataclasses
from typing import Callable, Dict, Optional

from mtl_tf.methods.cagrad import CAGrad
from mtl_tf.methods.imtl import IMTL
from mtl_tf.methods.mgda import MGDA, MGDAUB
from mtl_tf.methods.pcgrad import PCGrad
from mtl_tf.methods import zoo, zoo2
from mtl_tf.models import split_variables


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered method: ``build(tasks, model, seed, **options)``, its options' defaults, one line of doc."""
    build: Callable
    options: Dict[str, object]
    doc: str


METHODS: Dict[str, Optional[Entry]] = {
    "none": None,
    "pcgrad": Entry(lambda tasks, model, seed: PCGrad(tasks, seed=seed), {}, "PCGrad: project away conflicts, sum"),
    "mgda": Entry(lambda tasks, model, seed, max_iterations=250: MGDA(tasks, max_iterations),
                  {"max_iterations": 250}, "MGDA: the exact min-norm point of the task gradients' hull"),
    "mgda_ub": Entry(lambda tasks, model, seed, max_iterations=250: MGDAUB(tasks, model, max_iterations),
                     {"max_iterations": 250}, "MGDA on the shared representation (one trunk backward pass)"),
    "cagrad": Entry(lambda tasks, model, seed, c=0.5: CAGrad(tasks, c), {"c": 0.5},
                    "CAGrad: the best worst-task direction within c ||g0|| of the mean gradient"),
    "imtl": Entry(lambda tasks, model, seed: IMTL(tasks), {}, "IMTL-G: equal projections on unit task gradients"),
    # the zoo (mtl_tf/methods/zoo.py: formulas, defaults and references in its docstrings)
    "mean": Entry(lambda tasks, model, seed: zoo.Mean(tasks), {}, "Mean: the average of the task gradients"),
    "constant": Entry(lambda tasks, model, seed, weights=(): zoo.Constant(tasks, weights), {"weights": ()},
                      "Constant: fixed weights per task (empty: all 1)"),
    "random": Entry(lambda tasks, model, seed: zoo.RandomWeights(tasks, seed), {},
                    "Random (RLW): softmax of fresh Gaussian weights every step"),
    "upgrad": Entry(lambda tasks, model, seed, reg_eps=1e-4: zoo.UPGrad(tasks, reg_eps), {"reg_eps": 1e-4},
                    "UPGrad: each gradient projected on the dual cone of all, averaged (exact QPs)"),
    "dualproj": Entry(lambda tasks, model, seed, reg_eps=1e-4: zoo.DualProj(tasks, reg_eps), {"reg_eps": 1e-4},
                      "DualProj: the mean gradient projected on the dual cone (exact QP)"),
    "aligned_mtl": Entry(lambda tasks, model, seed, scale_mode="min": zoo.AlignedMTL(tasks, scale_mode),
                         {"scale_mode": "min"}, "Aligned-MTL: the mean after equalising G's eigenvalues"),
    "nash_mtl": Entry(lambda tasks, model, seed, max_norm=1.0, reg_eps=1e-6: zoo.NashMTL(tasks, max_norm, reg_eps),
                      {"max_norm": 1.0, "reg_eps": 1e-6}, "Nash-MTL: the bargaining solution G a = 1/a (exact)"),
    "fairgrad": Entry(lambda tasks, model, seed, alpha=1.0, reg_eps=1e-6: zoo.FairGrad(tasks, alpha, reg_eps),
                      {"alpha": 1.0, "reg_eps": 1e-6}, "FairGrad: alpha-fair weights G w = w^(-1/alpha) (exact)"),
    "krum": Entry(lambda tasks, model, seed, n_byzantine=0, n_selected=1: zoo.Krum(tasks, n_byzantine, n_selected),
                  {"n_byzantine": 0, "n_selected": 1}, "Krum: the gradient(s) closest to their neighbours"),
    "config": Entry(lambda tasks, model, seed: zoo.ConFIG(tasks), {}, "ConFIG: equal unit projections, summed length"),
    "trimmed_mean": Entry(lambda tasks, model, seed, trim_number=1: zoo.TrimmedMean(tasks, trim_number),
                          {"trim_number": 1}, "TrimmedMean: coordinate-wise mean without the extremes"),
    "graddrop": Entry(lambda tasks, model, seed, leak=0.0: zoo.GradDrop(tasks, leak, seed), {"leak": 0.0},
                      "GradDrop: drop each coordinate's minority sign at random"),
    # part 2 (mtl_tf/methods/zoo2.py): methods with per-step state
    "gradvac": Entry(lambda tasks, model, seed, beta=0.5: zoo2.GradVac(tasks, beta, seed), {"beta": 0.5},
                     "GradVac: raise each pair's cosine to its EMA target (PCGrad at target 0)"),
    "db_mtl": Entry(lambda tasks, model, seed, beta=0.9, beta_sigma=0.0: zoo2.DBMTL(
        tasks, zoo2.shared_size(model, tasks), beta, beta_sigma), {"beta": 0.9, "beta_sigma": 0.0},
        "DB-MTL: EMA row buffers rescaled to the largest norm (DB-MTL itself: with --objective=log)"),
    "excess_mtl": Entry(lambda tasks, model, seed, robust_step_size=1e-2, eps=1e-7: zoo2.ExcessMTL(
        tasks, zoo2.shared_size(model, tasks), robust_step_size, eps), {"robust_step_size": 1e-2, "eps": 1e-7},
        "ExcessMTL: weights grow with each task's AdaGrad-estimated excess risk"),
    "moco": Entry(lambda tasks, model, seed, beta=0.5, beta_sigma=0.5, gamma=0.1, gamma_sigma=0.5, rho=0.0,
                  lambda_update="projection": zoo2.MoCo(tasks, zoo2.shared_size(model, tasks), beta, beta_sigma, gamma,
                                                        gamma_sigma, rho, lambda_update),
                  {"beta": 0.5, "beta_sigma": 0.5, "gamma": 0.1, "gamma_sigma": 0.5, "rho": 0.0,
                   "lambda_update": "projection"}, "MoCo: MGDA's simplex step on tracked (momentum) gradients"),
    "modo": Entry(lambda tasks, model, seed, gamma=1e-3, rho=0.1: zoo2.MoDo(tasks, gamma, rho),
                  {"gamma": 1e-3, "rho": 0.1}, "MoDo: one projected-gradient step on lambda per step (one batch)"),
    "sdmgrad": Entry(lambda tasks, model, seed, lamda=0.3, niter=20: zoo2.SDMGrad(tasks, lamda, niter),
                     {"lamda": 0.3, "niter": 20}, "SDMGrad: MGDA towards the mean, projected SGD on w (one batch)"),
}


def make_method(name: str, tasks, *, model=None, objective=None, seed: int = 0, **options):
    """The gradient method called ``name`` (None for "none"); ValueError, one line, if it cannot
    work with ``objective`` or ``model`` or an option is unknown."""
    if name not in METHODS:
        raise ValueError(f"Unknown grad_method {name!r}; choose one of {sorted(METHODS)}.")
    entry = METHODS[name]
    if entry is None:
        return None
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise ValueError(f"--grad_method={name} has no option {', '.join(unknown)}; its options: "
                         f"{sorted(entry.options) or 'none'}.")
    if objective is not None and not getattr(objective, "combines_with_gradient_methods", True):
        raise ValueError(f"--objective={objective.flag_name} cannot be combined with --grad_method={name}: "
                         f"{objective.why_not_combinable}; use --grad_method=none.")
    if model is not None and not split_variables(model, tasks)[0]:
        raise ValueError(f"--grad_method={name} combines the tasks' gradients of the SHARED variables, and model "
                         f"{model.name!r} has none (every variable belongs to one task); use --grad_method=none.")
    method = entry.build(tasks, model, seed, **options)
    method.name_in_registry = name
    return method
