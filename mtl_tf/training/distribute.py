"""``--strategy``: which ``tf.distribute`` strategy runs the Trainer's one custom loop.

* ``default``: no distribution (one device; the graded ``train_step`` runs as is).
* ``mirrored``: ``MirroredStrategy`` over every local GPU (or the one CPU).
* ``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster comes from ``TF_CONFIG``
  (docs/SCALE.md has an example). Without ``TF_CONFIG`` it is one worker.
* ``tpu``: ``TPUStrategy`` through a ``TPUClusterResolver`` (``--tpu``); a clear error when no
  TPU can be reached.

Everything with variables (model, optimizer, objective, gradient method, the Trainer's own
counters) is created under ``strategy.scope()``; the dataset yields GLOBAL batches that
``experimental_distribute_dataset`` splits across the replicas; the per-task losses are global
masked means (``mtl_tf.gradients.global_task_losses``) and every replica hands the optimizer
1/R of the objective's gradient, which the optimizer sums over replicas.
"""

import os

import tensorflow as tf

from mtl_tf.errors import first_line

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """The strategy called ``name``; ValueError (one line) if it cannot be set up here.

    Create it before any other TensorFlow work (MultiWorkerMirroredStrategy requires that).
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {list(STRATEGIES)}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" in os.environ:
            try:
                import json
                json.loads(os.environ["TF_CONFIG"])
            except ValueError as e:
                raise ValueError(f"--strategy=multi_worker: TF_CONFIG is not valid JSON ({e}); see docs/SCALE.md.") \
                    from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(f"--strategy=tpu: no TPU could be reached ({first_line(e, None)}); run on a TPU VM, or pass "
                         "--tpu=NAME, or use --strategy=default|mirrored.") from None
    return tf.distribute.TPUStrategy(resolver)


def is_default(strategy) -> bool:
    """Whether ``strategy`` is TensorFlow's no-distribution default strategy."""
    return strategy is None or type(strategy).__name__ == "_DefaultDistributionStrategy"


def check_distributable(strategy, objective, grad_method) -> None:
    """ValueError (one line) if ``objective`` / ``grad_method`` cannot run with more than one replica.

    Per-replica state written inside the step must say how replicas' writes combine
    (``tf.VariableAggregation``); a gradient method on the shared representation would need the
    whole batch's representation on every replica.
    """
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return
    stuck = [v.name for v in objective.variables
             if not v.trainable and getattr(v, "aggregation", None) == tf.VariableAggregation.NONE]
    if stuck:
        raise ValueError(f"--objective={objective.flag_name} keeps state ({', '.join(stuck)}) that is written in "
                         f"the step without a tf.VariableAggregation, so it cannot run on "
                         f"{strategy.num_replicas_in_sync} replicas; use one device (--strategy=default).")
    if grad_method is not None and grad_method.uses_representation:
        raise ValueError(f"--grad_method={registry_name(grad_method)} combines gradients w.r.t. each "
                         "example's shared representation, which is split across replicas; use --grad_method=mgda "
                         "or one device (--strategy=default).")


def registry_name(grad_method) -> str:
    """The name ``grad_method`` is selected by (``--grad_method=NAME``), as ``mtl_tf.methods.make_method``
    records it -- never a name made from the class name (``MGDAUB`` is ``mgda_ub``); the class name
    for a method built without the registry."""
    return getattr(grad_method, "name_in_registry", None) or type(grad_method).__name__


def is_chief(strategy) -> bool:
    """Whether this process writes the run's outputs: always, except on a multi-worker cluster
    where only the chief (or worker 0 when the cluster has no chief) does."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_run_dir(strategy, run_dir: str) -> str:
    """``run_dir`` for the chief; a private folder under it for every other worker (all workers
    take part in saving a checkpoint, but only the chief's copy is the run's)."""
    if is_chief(strategy):
        return run_dir
    resolver = strategy.cluster_resolver
    return os.path.join(run_dir, "workers", f"{resolver.task_type}-{resolver.task_id}")
