"""Gradient methods: per-task gradients of the shared variables -> one update (slides 21-23).

Every method takes ``grads`` [K, P]: one row per task PRESENT this step (the framework drops
absent tasks before calling, so K may be smaller than T and may change from step to step --
write the code for any K >= 1 using ``tf.shape``, not Python values of tensors). Each returns
``(update [P], weights [K])`` where ``update = sum_k weights[k] * grads[k]`` whenever the method
is a linear combination of the task gradients (all of them here), so the weights can be logged.

"The plain combination" each reduces to when every task's gradient is identical:
``sum_gradients`` and ``pcgrad`` give the SUM of the rows; ``mgda``, ``cagrad`` and ``imtl_g``
give a convex-style combination (weights summing to 1), i.e. the common gradient itself.
"""

import tensorflow as tf

EPS = 1e-12


def sum_gradients(grads):
    """The baseline: sum of the task gradients (what back-propagating sum_i L_i gives).

    Args:
      grads: [K, P] float32 task gradients.
    Returns:
      (update [P], weights [K] all ones).
    """
    # BEGIN SOLUTION
    return tf.reduce_sum(grads, axis=0), tf.ones(tf.shape(grads)[:1], grads.dtype)
    # END SOLUTION


def pcgrad(grads, seed):
    """PCGrad (Yu et al. 2020): project away conflicting components, then sum.

    For each task i, go over the OTHER tasks j in a fresh random order (one permutation per i);
    whenever g_i^PC . g_j < 0, set g_i^PC <- g_i^PC - (g_i^PC . g_j) / (||g_j||^2 + eps) g_j,
    always projecting on the ORIGINAL g_j. The update is sum_i g_i^PC.

    Args:
      grads: [K, P] float32.
      seed: [2] int stateless seed; the same seed gives the same orders.
    Returns:
      (update [P], weights [K]): update = sum_k weights[k] grads[k] (track the coefficient each
      projection puts on each original gradient; without conflicts every weight is 1).
    """
    # BEGIN SOLUTION
    k = tf.shape(grads)[0]
    keys = tf.random.stateless_uniform(tf.stack([k, k]), seed=seed)
    order = tf.argsort(keys, axis=1)                                 # row i: a permutation for task i
    norms2 = tf.reduce_sum(grads * grads, axis=1)                    # [K]
    eye = tf.eye(k, dtype=grads.dtype)

    def body(s, pc, coef):
        j = order[:, s]                                              # [K] the task each i projects on now
        gj = tf.gather(grads, j)                                     # [K, P]
        dot = tf.reduce_sum(pc * gj, axis=1)                         # [K]
        scale = tf.where((dot < 0) & (j != tf.range(k)), dot / (tf.gather(norms2, j) + EPS), 0.0)
        # ensure_shape: gathered rows have an unknown shape, the loop needs the one it entered with
        pc = tf.ensure_shape(pc - scale[:, None] * gj, grads.shape)
        coef = tf.ensure_shape(coef - scale[:, None] * tf.gather(eye, j), eye.shape)
        return s + 1, pc, coef

    _, pc, coef = tf.while_loop(lambda s, *_: s < k, body, (tf.constant(0), grads, eye))
    return tf.reduce_sum(pc, axis=0), tf.reduce_sum(coef, axis=0)
    # END SOLUTION


def min_norm_two(g11, g12, g22):
    """Exact min-norm point of the segment [g1, g2] from inner products (MGDA for 2 tasks).

    min_gamma ||gamma g1 + (1 - gamma) g2||^2 has gamma = (g2.g2 - g1.g2) / ||g1 - g2||^2,
    clipped to [0, 1] (gamma = 0.5 when g1 = g2).

    Args:
      g11, g12, g22: scalars g1.g1, g1.g2, g2.g2.
    Returns:
      scalar gamma, the weight on g1.
    """
    # BEGIN SOLUTION
    denom = g11 - 2.0 * g12 + g22
    gamma = tf.where(denom > EPS, (g22 - g12) / tf.maximum(denom, EPS), 0.5)
    return tf.clip_by_value(gamma, 0.0, 1.0)
    # END SOLUTION


def mgda_weights(gram, max_iterations: int = 250, tolerance: float = 1e-6):
    """MGDA (Sener & Koltun 2018): weights of the min-norm point of the gradients' convex hull.

    Minimise ||sum_k a_k g_k||^2 = a^T M a over the simplex, M = ``gram`` [K, K] (M_ij = g_i.g_j).
    K = 1: a = [1]. K = 2: the exact closed form (``min_norm_two``). K > 2: Frank-Wolfe from
    a = 1/K: pick t = argmin_k (M a)_k, then the exact line search between the current point
    v1 = sum a_k g_k and v2 = g_t with ``min_norm_two(v1.v1, v1.v2, v2.v2)``; stop when the step
    changes a by less than ``tolerance`` or after ``max_iterations``. Plain Frank-Wolfe zig-zags
    when the minimum lies on a face of the simplex, so also take "away" steps: with s the used task
    (a_s > 0) maximising (M a)_s, if (M a)_s - v1.v1 > v1.v1 - (M a)_t move instead along
    v1 + gamma (v1 - g_s), gamma <= a_s / (1 - a_s) (the same two-point line search, with v2 the
    far end of that segment); this converges linearly.

    Args:
      gram: [K, K] float32 Gram matrix of the task gradients.
    Returns:
      [K] weights, non-negative, summing to 1.
    """
    # BEGIN SOLUTION
    k = tf.shape(gram)[0]
    dtype = gram.dtype

    eye = tf.eye(k, dtype=dtype)   # its rows are the one-hot vectors e_i

    # Every branch is written for any K (tf.gather, not [i, j] indexing; shape [k]): tf.case builds
    # them all, and XLA (which the trainer uses when it can) compiles them all for each K.
    def two():
        gamma = min_norm_two(*[tf.gather_nd(gram, ij) for ij in ([0, 0], [0, 1], [1, 1])])
        return gamma * tf.gather(eye, 0) + (1.0 - gamma) * tf.gather(eye, 1)

    def frank_wolfe():
        def body(i, a, change):
            ma = tf.linalg.matvec(gram, a)
            v1v1 = tf.tensordot(a, ma, 1)
            t = tf.argmin(ma, output_type=tf.int32)
            # away vertex: the used task whose gradient points most along the current point
            s = tf.argmax(tf.where(a > 0, ma, -float("inf")), output_type=tf.int32)
            # (tf.gather, not x[t]: XLA compiles slicing at a computed index only for constant inputs)
            toward = v1v1 - tf.gather(ma, t) >= tf.gather(ma, s) - v1v1
            a_s = tf.gather(a, s)
            # far end of the segment: g_t (Frank-Wolfe step) or past v1 away from g_s (away step)
            reach = tf.minimum(a_s / tf.maximum(1.0 - a_s, EPS), 1e6)
            far = tf.where(toward, tf.gather(eye, t), (1.0 + reach) * a - reach * tf.gather(eye, s))
            mf = tf.linalg.matvec(gram, far)
            gamma = min_norm_two(v1v1, tf.tensordot(a, mf, 1), tf.tensordot(far, mf, 1))
            new = tf.maximum(gamma * a + (1.0 - gamma) * far, 0.0)
            new = new / tf.reduce_sum(new)
            return i + 1, new, tf.reduce_sum(tf.abs(new - a))

        a0 = tf.fill([k], 1.0 / tf.cast(k, dtype))
        _, a, _ = tf.while_loop(lambda i, a, change: (i < max_iterations) & (change >= tolerance),
                                body, (tf.constant(0), a0, tf.constant(1.0, dtype)))
        return a

    return tf.case([(tf.equal(k, 1), lambda: tf.ones([k], dtype)), (tf.equal(k, 2), two)], default=frank_wolfe)
    # END SOLUTION


def mgda(grads, max_iterations: int = 250, tolerance: float = 1e-6):
    """MGDA on task gradients: (update = min-norm point [P], weights [K] on the simplex).

    Args:
      grads: [K, P] float32.
    """
    # BEGIN SOLUTION
    w = mgda_weights(tf.einsum("ip,jp->ij", grads, grads), max_iterations, tolerance)  # G G^T (see cagrad)
    return tf.linalg.matvec(grads, w, transpose_a=True), w
    # END SOLUTION


def cagrad(grads, c: float = 0.5, iterations: int = 50):
    """CAGrad (Liu et al. 2021): the mean gradient corrected towards the worst task's.

    With g0 the mean gradient and M = G G^T: find w on the simplex minimising
    F(w) = w^T M 1/K + c ||g0|| sqrt(w^T M w) (mirror descent: w <- w exp(-lr grad F), normalised,
    ``iterations`` times, from w = 1/K), then g_w = sum w_k g_k and
    update = (g0 + c ||g0|| / ||g_w|| g_w) / (1 + c)  (the official code's ``rescale=2``, so that
    identical gradients give the mean gradient back).

    Args:
      grads: [K, P] float32; c >= 0 the conflict-averse radius (c = 0: the mean).
    Returns:
      (update [P], weights [K]) with update = sum_k weights[k] grads[k].
    """
    # BEGIN SOLUTION
    k = tf.shape(grads)[0]
    kf = tf.cast(k, grads.dtype)
    gram = tf.einsum("ip,jp->ij", grads, grads)   # G G^T; on CPU ~3x faster than matmul when P is large
    mean_w = tf.fill([k], 1.0 / kf)
    g0_norm = tf.sqrt(tf.maximum(tf.reduce_mean(gram), 0.0))
    radius = c * g0_norm
    b = tf.linalg.matvec(gram, mean_w)
    lr = 2.0 / (tf.reduce_max(tf.abs(gram)) + EPS)

    def body(i, w):
        mw = tf.linalg.matvec(gram, w)
        grad = b + radius * mw / tf.sqrt(tf.tensordot(w, mw, 1) + EPS)
        w = w * tf.exp(-lr * grad)
        return i + 1, w / tf.reduce_sum(w)

    _, w = tf.while_loop(lambda i, w: i < iterations, body, (tf.constant(0), mean_w))
    gw_norm = tf.sqrt(tf.maximum(tf.tensordot(w, tf.linalg.matvec(gram, w), 1), 0.0))
    weights = (mean_w + radius / (gw_norm + EPS) * w) / (1.0 + c)
    return tf.linalg.matvec(grads, weights, transpose_a=True), weights
    # END SOLUTION


def imtl_g(grads):
    """IMTL-G (Liu et al. 2021): the update whose projections on every task's unit gradient agree.

    With u_k = g_k / ||g_k||, D = [g_1 - g_k]_{k>=2} and U = [u_1 - u_k]_{k>=2} ([K-1, P]):
    alpha_{2..K} = g_1 U^T (D U^T)^+ (pseudo-inverse, so identical gradients are fine),
    alpha_1 = 1 - sum alpha_{2..K}; update = sum_k alpha_k g_k.

    Args:
      grads: [K, P] float32.
    Returns:
      (update [P], weights alpha [K], summing to 1).
    """
    # BEGIN SOLUTION
    k = tf.shape(grads)[0]

    def several():
        unit = grads / (tf.norm(grads, axis=1, keepdims=True) + EPS)
        d = grads[:1] - grads[1:]
        u = unit[:1] - unit[1:]
        rest = tf.matmul(tf.matmul(grads[:1], u, transpose_b=True),
                         tf.linalg.pinv(tf.matmul(d, u, transpose_b=True)))[0]
        return tf.concat([[1.0 - tf.reduce_sum(rest)], rest], axis=0)

    alpha = tf.cond(k > 1, several, lambda: tf.ones([k], grads.dtype))
    return tf.linalg.matvec(grads, alpha, transpose_a=True), alpha
    # END SOLUTION
