"""What a step needs to know about ``tf.distribute`` replicas, in one place.

Used inside the compiled step by the objectives, the gradient methods, the step guard and the
step itself. Outside any strategy there is one replica and every helper is the identity.
"""

import tensorflow as tf


def num_replicas() -> int:
    """Replicas in sync in the current replica context (1 outside any strategy)."""
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def all_reduce_sum(value):
    """Sum of ``value`` over the replicas (``value`` itself with one replica)."""
    if num_replicas() == 1:
        return value
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def replicated_state(initial, name):
    """A non-trainable state variable that every replica updates with the same value (it is
    computed from all-reduced quantities), so under a strategy the first replica's write is kept."""
    return tf.Variable(initial, trainable=False, name=name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
