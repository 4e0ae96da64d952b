"""Multi-task objectives: the per-task loss vector -> one scalar to minimise (slides 18-19).

Every objective takes ``losses`` [T] (each task's masked-mean loss this step) and
``present`` [T] bool (which tasks had at least one example this step). Tasks that
are absent must not contribute: their entry of ``losses`` is meaningless (it may even be
huge), so select with ``tf.where``, never multiply it by 0 (0 * inf = nan).
Objectives with state (uncertainty's s, DWA's loss history, GradNorm's weights) get it as
arguments; the framework (``mtl_tf/objectives.py``) keeps and updates it.

Also here: the Pareto tools ``dominates`` and ``pareto_front`` (slide 18).
"""

import numpy as np
import tensorflow as tf


def sum_objective(losses, present):
    """The vanilla multi-task objective: sum_i L_i over the present tasks (slide 7).

    Args:
      losses: [T] float32 per-task losses.
      present: [T] bool, True where the task is in this step's batch.
    Returns:
      scalar float32.
    """
    # BEGIN SOLUTION
    return tf.reduce_sum(tf.where(present, losses, tf.zeros_like(losses)))
    # END SOLUTION


def weighted_objective(losses, present, weights):
    """Static (or externally chosen) weights: sum_i w_i L_i over the present tasks.

    Args:
      losses, present: as in ``sum_objective``.
      weights: [T] float32 task weights.
    Returns:
      scalar float32.
    """
    # BEGIN SOLUTION
    return tf.reduce_sum(tf.where(present, weights * losses, tf.zeros_like(losses)))
    # END SOLUTION


def minmax_objective(losses, present, temperature: float = 0.0):
    """Min-max (slide 18d): the worst present task's loss.

    temperature == 0: max_i L_i over present tasks. temperature > 0: the smooth version
    tau * log sum_i exp(L_i / tau) over present tasks (>= the max, -> the max as tau -> 0).
    With no task present, return 0.

    Args:
      losses, present: as in ``sum_objective``.
      temperature: a Python float >= 0.
    Returns:
      scalar float32.
    """
    # BEGIN SOLUTION
    very_low = tf.fill(tf.shape(losses), -1e30)  # finite: -inf would give nan gradients with no task present
    if temperature > 0:
        value = temperature * tf.reduce_logsumexp(tf.where(present, losses / temperature, very_low))
    else:
        value = tf.reduce_max(tf.where(present, losses, very_low))
    return tf.where(tf.reduce_any(present), value, 0.0)
    # END SOLUTION


def uncertainty_objective(losses, present, log_variances, is_regression):
    """Uncertainty weighting (Kendall et al. 2018) with s_t = log sigma_t^2 learned.

    Per present task: regression 0.5 exp(-s_t) L_t + 0.5 s_t; classification exp(-s_t) L_t + 0.5 s_t.
    Absent tasks contribute nothing (not even their 0.5 s_t).

    Args:
      losses, present: as in ``sum_objective``.
      log_variances: [T] float32 s_t (a trainable variable: the gradient must reach it).
      is_regression: [T] bool.
    Returns:
      scalar float32.
    """
    # BEGIN SOLUTION
    factor = tf.where(is_regression, 0.5, 1.0)
    terms = factor * tf.exp(-log_variances) * losses + 0.5 * log_variances
    return tf.reduce_sum(tf.where(present, terms, tf.zeros_like(terms)))
    # END SOLUTION


def dwa_weights(previous, before_previous, temperature: float = 2.0):
    """Dynamic weight average (Liu et al. 2019): lambda_k = K softmax(w / tau)_k.

    w_k = L_k(e-1) / L_k(e-2), the ratio of task k's average training loss over the last two
    epochs (a task whose loss falls slowly gets more weight).

    Args:
      previous: [T] average losses of epoch e-1.
      before_previous: [T] average losses of epoch e-2 (positive).
      temperature: tau > 0.
    Returns:
      [T] weights, summing to T.
    """
    # BEGIN SOLUTION
    ratio = previous / before_previous
    k = tf.cast(tf.size(ratio), ratio.dtype)
    return k * tf.nn.softmax(ratio / temperature)
    # END SOLUTION


def gradnorm_loss(weights, grad_norms, losses, initial_losses, present, alpha: float = 1.5):
    """GradNorm's L_grad (Chen et al. 2018), over the present tasks.

    G_i = w_i * grad_norms_i (grad_norms_i = ||grad_W L_i|| for the last shared layer W),
    L~_i = L_i / L_i(0), r_i = L~_i / mean(L~), target_i = stop_gradient(mean(G) * r_i ** alpha),
    L_grad = sum_i |G_i - target_i|. Means are over present tasks. Only ``weights`` should
    get a gradient from it (grad_norms are constants here).

    Args:
      weights: [T] float32 w_i (differentiate with respect to them).
      grad_norms: [T] float32 ||grad_W L_i|| (unweighted).
      losses, initial_losses: [T] current L_i and first-step L_i(0).
      present: [T] bool.
      alpha: the asymmetry hyper-parameter (applied to r_i only).
    Returns:
      scalar float32.
    """
    # BEGIN SOLUTION
    count = tf.maximum(tf.reduce_sum(tf.cast(present, tf.float32)), 1.0)
    zeros = tf.zeros_like(losses)
    g = weights * grad_norms
    mean_g = tf.reduce_sum(tf.where(present, g, zeros)) / count
    ratio = tf.where(present, losses / initial_losses, zeros)
    r = ratio / (tf.reduce_sum(ratio) / count)
    target = tf.stop_gradient(mean_g * tf.pow(tf.where(present, r, 1.0), alpha))
    return tf.reduce_sum(tf.where(present, tf.abs(g - target), zeros))
    # END SOLUTION


def renormalize_weights(weights):
    """GradNorm's renormalisation: rescale so that sum_i w_i = T (the number of tasks).

    Args:
      weights: [T] positive float32.
    Returns:
      [T] float32.
    """
    # BEGIN SOLUTION
    return weights * tf.cast(tf.size(weights), weights.dtype) / tf.reduce_sum(weights)
    # END SOLUTION


def dominates(a, b) -> bool:
    """Slide 18: a dominates b if a is no worse on every task and differs from b (lower is better).

    Args:
      a, b: [T] per-task losses (sequences or arrays).
    Returns:
      a Python bool.
    """
    # BEGIN SOLUTION
    a, b = np.asarray(a, float), np.asarray(b, float)
    return bool(np.all(a <= b) and np.any(a != b))
    # END SOLUTION


def pareto_front(points):
    """Which points are Pareto-optimal (dominated by no other point).

    Args:
      points: [N, T] per-task losses, lower is better.
    Returns:
      [N] numpy bool array, True for the non-dominated points (duplicates are all kept).
    """
    # BEGIN SOLUTION
    p = np.asarray(points, float)
    return np.array([not any(dominates(q, x) for q in p) for x in p], dtype=bool)
    # END SOLUTION
