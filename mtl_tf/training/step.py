"""The one train step, readable top to bottom (the big_vision ``update_fn`` of this toolkit).

    outputs          model(features)                     (or the method's forward, for MGDA-UB)
    losses [T]       per-task masked means, exact over the GLOBAL batch under a strategy
    total            objective(losses, present) + model.losses (regularizers)
    rows [T, P]      per-task gradients of the shared variables, each (d total / d L_i) grad L_i
    update [P]       method.combine(rows, present): absent tasks never enter it
    pairs            (gradient, variable) for every trainable variable: shared ones take the update
                     (+ the regularizers' gradient), each task's own ones and the objective's take
                     the ordinary gradient of total

``train_step`` returns ``(out, pairs)`` and applies nothing: the Trainer (or the Keras ``fit``
path) applies the pairs behind the non-finite guard. Nothing is stored on Python objects.
Per-task rows are ``(d objective / d L_i) * grad L_i``, so a loss-weighting objective (static
weights, uncertainty, DWA) composes with any method: the method sees each task's gradient as the
objective weights it.

Each task's loss is its own scalar, computed from its own output: ``tape.gradient`` of one task's
loss back-propagates through that task's head and the trunk only. (Taking row i as the gradient
of the stacked [T] loss vector with a one-hot output gradient back-propagated zeros through all T
heads, T^2 work: 224 vs 75 ms at T = 20 in the issue's profile.)

Under a ``tf.distribute`` strategy with R > 1 replicas: the losses are global masked means
(each replica's share ``local_i = mean_i n_i / N_i``, all-reduced), the rows are all-reduced
BEFORE the method combines them (so every replica computes the same update), and every pair
carries 1/R of the replicated gradient, because the optimizer sums the replicas' gradients.
"""

import tensorflow as tf

from mtl_tf.impl import graded
from mtl_tf.losses import task_losses
from mtl_tf.methods.base import nonfinite_rows
from mtl_tf.models import split_variables
from mtl_tf.replicas import all_reduce_sum, num_replicas


def train_step(model, objective, method, tasks, batch):
    """``(out, pairs)`` of one step on ``batch = (features, labels, masks)``.

    ``method``: a ``mtl_tf.methods.GradientMethod``, or None to back-propagate the objective.
    ``out``: {"loss": total, "task_losses": [T], "present": [T] bool, and with a method
    "nonfinite_rows": [T] bool}. ``pairs``: [(gradient, variable)], no None gradients.
    """
    features, labels, masks = batch
    replicas = num_replicas()
    shared, own = split_variables(model, tasks)
    with tf.GradientTape(persistent=method is not None) as tape:
        outputs, rep = (model(features, training=True), None) if method is None else method.forward(model, features)
        losses, present, local = task_losses(outputs, tasks, labels, masks)
        total = objective(losses, present)
        regularization = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
        total = total + regularization
        # what this replica hands the optimizer, which sums over replicas (computed in the tape)
        replica_total = total / replicas
        replica_regularization = regularization / replicas
    out = {"loss": total, "task_losses": losses, "present": present}

    if method is None:
        variables = list(model.trainable_variables) + list(objective.trainable_variables)
        return out, _pairs(tape.gradient(replica_total, variables), variables)

    rest = [v for n in own for v in own[n]] + list(objective.trainable_variables)
    if method.uses_representation:
        # one backward pass through the heads: row i = d total / d Z_i (each head reads its own
        # copy Z_i of Z), with the heads' and objective's own gradients ...
        z, copies = rep
        grads = tape.gradient(replica_total, copies + rest)
        rows = tf.stack([tf.zeros([tf.size(z)], z.dtype) if g is None else tf.reshape(g, [-1])
                         for g in grads[:len(copies)]])
        update, _ = method.combine(rows, present)
        # ... then one through the trunk, from the combined row sum_i w_i row_i
        shared_grads = tape.gradient(z, shared, output_gradients=tf.reshape(update, tf.shape(z)))
        shared_grads = [tf.zeros_like(v) if g is None else g for g, v in zip(shared_grads, shared)]
        rest_grads = grads[len(copies):]
    else:
        scale = tape.gradient(total, losses)
        scale = tf.zeros_like(losses) if scale is None else scale   # d objective / d L_i
        rows = all_reduce_sum(task_jacobian(tape, local, shared)) * scale[:, None]
        update, _ = method.combine(rows, present)
        shared_grads = graded("optimization").unflatten_gradients(update / replicas, shared)
        rest_grads = tape.gradient(replica_total, rest)
    out["nonfinite_rows"] = nonfinite_rows(rows, present)
    if model.losses:
        reg = tape.gradient(replica_regularization, shared)
        shared_grads = [g if r is None else g + r for g, r in zip(shared_grads, reg)]
    del tape
    return out, _pairs(shared_grads, shared) + _pairs(rest_grads, rest)


def task_jacobian(tape, task_scalars, sources):
    """[T, P] per-task gradients of the T scalars ``task_scalars`` w.r.t. ``sources``, flattened.

    A loop of ``tape.gradient`` over a persistent tape: on the 2-core CPU it was 1.0-2.2x faster
    than ``tape.jacobian`` (pfor) for T = 2..20 (benchmarks/README.md). None gradients count as zeros.
    """
    flatten = graded("optimization").flatten_gradients
    return tf.stack([flatten(tape.gradient(s, sources), sources) for s in task_scalars])


def _pairs(grads, variables):
    return [(g, v) for g, v in zip(grads, variables) if g is not None]
