"""Kept for existing imports: the gradient methods live in ``mtl_tf.methods`` and the step in
``mtl_tf.training.step``; their flags (``--grad_method``, ``--cagrad_c``, ``--mgda_max_iterations``)
in ``mtl_tf.apps.objective_flags``.
"""

from mtl_tf.methods import (CAGrad, GradientMethod, IMTL, MGDA, MGDAUB, METHODS, PCGrad, make_method,  # noqa: F401
                            model_outputs, shared_representation)
from mtl_tf.methods.solvers import compiled_solver  # noqa: F401
from mtl_tf.replicas import all_reduce_sum, num_replicas, replicated_state  # noqa: F401
from mtl_tf.losses import task_losses  # noqa: F401
from mtl_tf.training.step import task_jacobian, train_step  # noqa: F401

_OPTIONS = {"cagrad": {"c": "cagrad_c"}, "mgda": {"max_iterations": "mgda_max_iterations"},
            "mgda_ub": {"max_iterations": "mgda_max_iterations"}}


def make_grad_method(name: str, model, tasks, objective, flag_values=None, seed: int = 0):
    """``make_method`` with the options read from ``flag_values`` (parsed flags) when given."""
    options = {} if flag_values is None else {k: getattr(flag_values, f) for k, f in _OPTIONS.get(name, {}).items()}
    return make_method(name, tasks, model=model, objective=objective, seed=seed, **options)
GRAD_METHODS = METHODS  # the old name
