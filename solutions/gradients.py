"""Gradient methods: per-task gradients of the shared variables -> one update (slides 21-23).

Every method takes ``grads`` [K, P]: one row per task PRESENT this step (the framework drops
absent tasks before calling, so K may be smaller than T and may change from step to step --
write the code for any K >= 1 using ``tf.shape``, not Python values of tensors). Each returns
``(update [P], weights [K])`` where ``update = sum_k weights[k] * grads[k]`` whenever the method
is a linear combination of the task gradients (all of them here), so the weights can be logged.

"The plain combination" each reduces to when every task's gradient is identical:
``sum_gradients`` and ``pcgrad`` give the SUM of the rows; ``mgda``, ``cagrad`` and ``imtl_g``
give a convex-style combination (weights summing to 1), i.e. the common gradient itself.

Scale: late in training gradients are tiny (1e-7 and less), and in float32 squares of 1e20
overflow. Every method must give the same weights for ``c * grads`` as for ``grads`` (and so
``c`` times the update), for any c > 0: work on ``scaled(grads)`` (given below), never add an
absolute epsilon to a norm, and compare with thresholds relative to the inputs.
"""

import tensorflow as tf

EPS = 1e-12   # relative thresholds only (e.g. EPS * (g11 + g22)), never added to a norm


def scaled(grads):
    """(grads / s, s) with s = max |grads| (1 when every entry is 0): rows whose entries are at
    most 1 in magnitude, whatever the gradients' scale, so squares and inner products neither
    overflow nor underflow. Weights computed from ``grads / s`` are the weights for ``grads``."""
    s = tf.reduce_max(tf.abs(grads))
    s = tf.where(s > 0, s, tf.ones_like(s))
    return grads / s, s


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
    whenever g_i^PC . g_j < 0, set g_i^PC <- g_i^PC - (g_i^PC . g_j) / ||g_j||^2 g_j, always
    projecting on the ORIGINAL g_j (a zero g_j conflicts with nothing). The update is sum_i g_i^PC.
    Work on ``scaled(grads)``: the coefficients do not depend on the scale.

    Args:
      grads: [K, P] float32.
      seed: [2] int stateless seed; the same seed gives the same orders.
    Returns:
      (update [P], weights [K]): update = sum_k weights[k] grads[k] (track the coefficient each
      projection puts on each original gradient; without conflicts every weight is 1).
    """
    # BEGIN SOLUTION
    k = tf.shape(grads)[0]
    unit, _ = scaled(grads)
    keys = tf.random.stateless_uniform(tf.stack([k, k]), seed=seed)
    order = tf.argsort(keys, axis=1)                                 # row i: a permutation for task i
    norms2 = tf.reduce_sum(unit * unit, axis=1)                      # [K]
    eye = tf.eye(k, dtype=grads.dtype)

    def body(s, pc, coef):
        j = order[:, s]                                              # [K] the task each i projects on now
        gj = tf.gather(unit, j)                                      # [K, P]
        dot = tf.reduce_sum(pc * gj, axis=1)                         # [K]
        conflict = (dot < 0) & (j != tf.range(k))
        scale = tf.where(conflict, tf.math.divide_no_nan(dot, tf.gather(norms2, j)), 0.0)
        # ensure_shape: gathered rows have an unknown shape, the loop needs the one it entered with
        pc = tf.ensure_shape(pc - scale[:, None] * gj, unit.shape)
        coef = tf.ensure_shape(coef - scale[:, None] * tf.gather(eye, j), eye.shape)
        return s + 1, pc, coef

    _, _, coef = tf.while_loop(lambda s, *_: s < k, body, (tf.constant(0), unit, eye))
    weights = tf.reduce_sum(coef, axis=0)
    return tf.linalg.matvec(grads, weights, transpose_a=True), weights
    # END SOLUTION


def min_norm_two(g11, g12, g22):
    """Exact min-norm point of the segment [g1, g2] from inner products (MGDA for 2 tasks).

    min_gamma ||gamma g1 + (1 - gamma) g2||^2 has gamma = (g2.g2 - g1.g2) / ||g1 - g2||^2,
    clipped to [0, 1]; gamma = 0.5 when ||g1 - g2||^2 is not positive relative to the inputs
    (at most EPS * (g1.g1 + g2.g2)), e.g. g1 = g2.

    Args:
      g11, g12, g22: scalars g1.g1, g1.g2, g2.g2.
    Returns:
      scalar gamma, the weight on g1.
    """
    # BEGIN SOLUTION
    denom = g11 - 2.0 * g12 + g22
    ok = denom > EPS * (g11 + g22)
    gamma = tf.where(ok, (g22 - g12) / tf.where(ok, denom, tf.ones_like(denom)), 0.5)
    return tf.clip_by_value(gamma, 0.0, 1.0)
    # END SOLUTION


def mgda_weights(gram, max_iterations: int = 250, tolerance: float = 1e-10):
    """MGDA (Sener & Koltun 2018): weights of the min-norm point of the gradients' convex hull.

    Minimise ||d||^2 = a^T M a, d = sum_k a_k g_k, over the simplex, M = ``gram`` [K, K]
    (M_ij = g_i.g_j). The answer is exact, not approximate: a is optimal iff (KKT)
      g_i.d >= ||d||^2 for every i, with equality wherever a_i > 0.
    Frank-Wolfe (the paper's solver) only approaches it; use Wolfe's min-norm-point algorithm
    (1976), which reaches it in finitely many steps. Keep a set S of "active" tasks and a in the
    simplex, zero off S. Start from S = {the shortest g_i}, a = e_i. Repeat:
      1. v = the weights of the min-norm point of the AFFINE hull of {g_i : i in S}: solve
         [M_SS 1; 1^T 0] [v_S; mu] = [0; 1] (v = 0 off S; rows and columns off S of a
         (K+1) x (K+1) system replaced by the identity keep the shapes static).
      2. If v_i > 0 on S: a = v; d = sum a_k g_k. Stop if g_j.d >= ||d||^2 - tolerance * ||d||^2
         + tolerance^2 for j = argmin_i g_i.d (KKT holds up to rounding); else add j to S.
      3. Else move from a towards v as far as the simplex allows: theta = min over i in S with
         v_i <= 0 of a_i / (a_i - v_i), a <- a + theta (v - a), drop from S the i whose a_i hit 0.
    Work in float64 on M divided by its largest diagonal entry (the weights do not depend on the
    scale), and stop after ``max_iterations`` steps whatever happens.

    Args:
      gram: [K, K] float32 or float64 Gram matrix of the task gradients.
    Returns:
      [K] weights (gram's dtype), non-negative, summing to 1.
    """
    # BEGIN SOLUTION
    dtype = gram.dtype
    k = tf.shape(gram)[0]
    m = tf.cast(gram, tf.float64)
    m = (m + tf.transpose(m)) / 2.0
    top = tf.reduce_max(tf.linalg.diag_part(m))
    m = m / tf.where(top > 0, top, tf.ones_like(top))
    eye = tf.eye(k, dtype=tf.float64)
    rhs = tf.concat([tf.zeros([k], tf.float64), tf.ones([1], tf.float64)], 0)[:, None]

    def affine_min(active):
        """Weights [K] of the min-norm point of the affine hull of the active rows."""
        on = tf.cast(active, tf.float64)
        # a 1e-12 ridge keeps the system solvable if rounding makes active rows dependent
        block = m * on[:, None] * on[None, :] + tf.linalg.diag(1.0 - on + 1e-12 * on)
        lhs = tf.concat([tf.concat([block, on[:, None]], 1),
                         tf.concat([on[None, :], tf.zeros([1, 1], tf.float64)], 1)], 0)
        return tf.linalg.solve(lhs, rhs)[:k, 0] * on

    def body(i, a, active, done):
        v = affine_min(active)
        interior = tf.reduce_all(tf.where(active, v > 0, True))
        # step 2: v is in the simplex; is it optimal? else add the most violating task
        mv = tf.linalg.matvec(m, v)
        dd = tf.tensordot(v, mv, 1)
        j = tf.argmin(mv, output_type=tf.int32)
        optimal = dd - tf.gather(mv, j) <= tolerance * dd + tolerance * tolerance
        stuck = tf.gather(active, j)          # rounding: the violator is already active
        grown = active | (tf.gather(eye, j) > 0)
        # step 3: the largest step towards v that keeps a >= 0; the blocking task leaves S
        bad = active & (v <= 0)
        ratios = tf.where(bad, a / tf.where(bad, a - v, tf.ones_like(a)), tf.fill([k], tf.constant(2.0, tf.float64)))
        r = tf.argmin(ratios, output_type=tf.int32)
        theta = tf.gather(ratios, r)
        moved = tf.where(tf.gather(eye, r) > 0, tf.zeros_like(a), a + theta * (v - a))
        kept = active & (moved > 0)
        moved = tf.where(kept, moved, tf.zeros_like(moved))
        a = tf.where(interior, v, moved)
        active = tf.where(interior, tf.where(optimal | stuck, active, grown), kept)
        done = tf.where(interior, optimal | stuck, theta <= 0)
        return i + 1, a, active, done

    start = tf.gather(eye, tf.argmin(tf.linalg.diag_part(m), output_type=tf.int32))
    vector = tf.TensorShape([None])   # K may be known when tracing: a and active keep it, v may not
    _, a, _, _ = tf.while_loop(lambda i, a, active, done: (i < max_iterations) & ~done, body,
                               (tf.constant(0), start, start > 0, tf.constant(False)),
                               shape_invariants=(tf.TensorShape([]), vector, vector, tf.TensorShape([])))
    a = tf.maximum(a, 0.0)
    return tf.cast(a / tf.reduce_sum(a), dtype)
    # END SOLUTION


def mgda(grads, max_iterations: int = 250, tolerance: float = 1e-10):
    """MGDA on task gradients: (update = min-norm point [P], weights [K] on the simplex).

    Form the Gram matrix of ``scaled(grads)`` (the raw one overflows in float32 at 1e20).

    Args:
      grads: [K, P] float32.
    """
    # BEGIN SOLUTION
    unit, _ = scaled(grads)
    w = mgda_weights(tf.einsum("ip,jp->ij", unit, unit), max_iterations, tolerance)  # G G^T (see cagrad)
    return tf.linalg.matvec(grads, w, transpose_a=True), w
    # END SOLUTION


def cagrad(grads, c: float = 0.5, iterations: int = 60):
    """CAGrad (Liu et al. 2021): the mean gradient corrected towards the worst task's.

    Primal: d = argmax_d min_i g_i.d subject to ||d - g0|| <= c ||g0||, g0 the mean gradient;
    for c >= 1 every g_i.d >= 0 (d = 0 is allowed). Its dual: w on the simplex minimising
    F(w) = g_w.g0 + c ||g0|| ||g_w||, g_w = sum w_k g_k, and d = g0 + c ||g0|| g_w / ||g_w||.
    Solve it exactly, not by a fixed number of descent steps. A penalty (S / 2) ||d - g0||^2 in
    place of the ball turns the dual into MGDA's problem: w(S) = the min-norm weights of the
    hull of the shifted rows g_k + g0 / S (``mgda_weights`` on their Gram matrix), with
    d(S) = g0 + S g_w(S), and ||d(S) - g0|| grows with S. Find the S where it reaches the radius
    c ||g0|| by regula falsi on log(S) (at most ``iterations`` steps) in [S_lo, S_hi],
    S_lo = c ||g0|| / max_k ||g_k||, S_hi = e S_lo max_k ||g_k|| / ||min-norm point of the rows||.
    If 0 is in the rows' hull (the min-norm point within 1e-6 max_k ||g_k|| of 0), the shifted
    points lose their digits: use instead d(S) = g0 + sum_k l_k g_k with l >= 0, sum l <= S,
    minimising ||d|| -- the same point there, the min-norm point of the hull of
    {g0, g0 + S g_1, ..., g0 + S g_K} (l = S * the weights of the g0 + S g_k) -- growing S from
    S_lo by factors of e until the radius is reached (then regula falsi on the last step) or
    ||d(S)|| stops decreasing (no d does better than min_i g_i.d = 0; that d, the non-conflicting
    direction closest to g0, is the answer). Then
      update = d / (1 + c)  (the official code's ``rescale=2``: identical gradients give g0 back),
    i.e. weights = (1/K + l) / (1 + c) with l = S w(S). Work on ``scaled(grads)``.

    Args:
      grads: [K, P] float32; c >= 0 the conflict-averse radius (c = 0: the mean).
    Returns:
      (update [P], weights [K]) with update = sum_k weights[k] grads[k].
    """
    # BEGIN SOLUTION
    k = tf.shape(grads)[0]
    unit, _ = scaled(grads)
    unit = tf.cast(unit, tf.float64)
    gram = tf.einsum("ip,jp->ij", unit, unit)                         # G G^T; on CPU faster than matmul
    mean_w = tf.fill([k], 1.0 / tf.cast(k, tf.float64))
    q = tf.linalg.matvec(gram, mean_w)                                # g_k . g0
    g0g0 = tf.maximum(tf.tensordot(mean_w, q, 1), 0.0)
    radius = c * tf.sqrt(g0g0)
    longest = tf.sqrt(tf.reduce_max(tf.linalg.diag_part(gram)))

    def reach(l):
        return tf.sqrt(tf.maximum(tf.tensordot(l, tf.linalg.matvec(gram, l), 1), 0.0))   # ||sum l_k g_k||

    def penalized(log_s):
        """(l = S w(S) [K], ||d(S) - g0|| - radius) for S = exp(log_s)."""
        s = tf.exp(log_s)
        shifted = gram + (q[:, None] + q[None, :]) / s + g0g0 / (s * s)   # (g_i + g0/S).(g_j + g0/S)
        l = s * mgda_weights(shifted)
        return l, reach(l) - radius

    def limited(log_budget):
        """(l >= 0 with sum l <= B = exp(log_budget) minimising ||g0 + sum l_k g_k||, the excess):
        the min-norm point of the hull of g0 and the g0 + B g_k."""
        budget = tf.exp(log_budget)
        cross = g0g0 + budget * q
        corner = g0g0 + budget * (q[:, None] + q[None, :]) + budget * budget * gram
        points = tf.concat([tf.concat([[[g0g0]], cross[None, :]], 1), tf.concat([cross[:, None], corner], 1)], 0)
        w = mgda_weights(points)
        l = budget * w[1:]
        return l, reach(l) - radius

    vector, scalar = tf.TensorShape([None]), tf.TensorShape([])

    def radius_reached(family, a, b):
        """l of ``family`` (log S -> (l, excess)) where excess(log S), increasing, crosses 0 in [a, b]:
        regula falsi (Illinois). ``family`` appears once in the loop (steps 0 and 1 evaluate the ends):
        each appearance is one more copy of the min-norm solver to compile."""
        def body(i, a, fa, b, fb, side, la, lb):
            mid = tf.clip_by_value((a * fb - b * fa) / (fb - fa), a, b)
            x = tf.where(i == 0, a, tf.where(i == 1, b, mid))
            lx, fx = family(x)
            search, up = i >= 2, fx > 0
            # Illinois: halve the kept end's value when the same end is kept twice, so both ends move
            fa2 = tf.where(up & (side > 0), fa / 2.0, fa)
            fb2 = tf.where(~up & (side < 0), fb / 2.0, fb)
            to_a, to_b = (i == 0) | (search & ~up), (i == 1) | (search & up)
            fa = tf.where(to_a, fx, tf.where(search, fa2, fa))
            fb = tf.where(to_b, fx, tf.where(search, fb2, fb))
            a, la = tf.where(to_a, x, a), tf.where(to_a, lx, la)
            b, lb = tf.where(to_b, x, b), tf.where(to_b, lx, lb)
            return i + 1, a, fa, b, fb, tf.where(search, tf.where(up, 1, -1), side), la, lb

        def unsolved(i, a, fa, b, fb, side, la, lb):
            return (i < 2) | ((i - 2 < iterations) & (b - a > 1e-12) & (tf.minimum(-fa, fb) > 1e-10 * radius))

        one = tf.ones([], tf.float64)
        start = (tf.constant(0), a, -one, b, one, tf.constant(0), tf.zeros_like(mean_w), tf.zeros_like(mean_w))
        _, a, fa, b, fb, _, la, lb = tf.while_loop(
            unsolved, body, start, shape_invariants=(scalar,) * 6 + (vector, vector))
        return tf.where(-fa <= fb, la, lb)

    lo = tf.math.log(tf.where(radius > 0, radius, 1.0) / tf.where(longest > 0, longest, 1.0))
    # ||d(S) - g0|| >= S ||min-norm point of the rows||, so the radius is reached by S_lo e * longest / that
    nearest = reach(mgda_weights(gram))
    in_hull = nearest <= 1e-6 * longest
    top = lo + 1.0 + tf.math.log(longest / tf.maximum(nearest, 1e-6 * longest))

    def degenerate():
        # 0 is in the rows' hull (up to 1e-6 of the longest row), where the shifted points lose their
        # digits. With a budget sum l <= S in place of sum l = S the same d(S) comes out (mass on a
        # combination summing to 0 changes nothing) from well-scaled points, as long as S stays
        # moderate: grow it by e until the radius is reached or ||d(S)|| stops decreasing.
        def size(l):   # ||g0 + sum l_k g_k||^2
            return g0g0 + 2.0 * tf.tensordot(l, q, 1) + tf.tensordot(l, tf.linalg.matvec(gram, l), 1)

        def grow(j, l, d2, reached, flat):
            l_next, excess = limited(lo + tf.cast(j, tf.float64))
            d2_next = size(l_next)
            flat = d2 <= d2_next + 1e-9 * g0g0
            reached = (j > 0) & (excess >= 0)
            return j + 1, tf.where(flat, l, l_next), tf.where(flat, d2, d2_next), reached, flat

        # step 0 takes S_lo (d2 = inf: never "flat"); ``limited`` appears once, in the loop
        inf = tf.constant(float("inf"), tf.float64)
        j, l, _, reached, _ = tf.while_loop(lambda j, l, d2, reached, flat: (j <= 24) & ~reached & ~flat, grow,
                                            (tf.constant(0), tf.zeros_like(mean_w), inf, tf.constant(False),
                                             tf.constant(False)),
                                            shape_invariants=(scalar, vector, scalar, scalar, scalar))
        end = lo + tf.cast(j - 1, tf.float64)
        return tf.cond(reached, lambda: radius_reached(limited, end - 1.0, end), lambda: l)

    l = tf.cond(in_hull, degenerate, lambda: radius_reached(penalized, lo, top))
    weights = tf.where(radius > 0, (mean_w + l) / (1.0 + c), mean_w)
    weights = tf.cast(weights, grads.dtype)
    return tf.linalg.matvec(grads, weights, transpose_a=True), weights
    # END SOLUTION


def imtl_g(grads):
    """IMTL-G (Liu et al. 2021): the update whose projections on every task's unit gradient agree.

    With u_k = g_k / ||g_k||, D = [g_1 - g_k]_{k>=2} and U = [u_1 - u_k]_{k>=2} ([K-1, P]):
    alpha_{2..K} = g_1 U^T (D U^T)^+ (pseudo-inverse, so identical gradients are fine),
    alpha_1 = 1 - sum alpha_{2..K}; update = sum_k alpha_k g_k. Work on ``scaled(grads)`` (the
    weights do not depend on the scale), and take a zero row's unit vector as zero.

    Args:
      grads: [K, P] float32.
    Returns:
      (update [P], weights alpha [K], summing to 1).
    """
    # BEGIN SOLUTION
    k = tf.shape(grads)[0]
    g, _ = scaled(grads)

    def several():
        unit = tf.math.divide_no_nan(g, tf.norm(g, axis=1, keepdims=True))
        d = g[:1] - g[1:]
        u = unit[:1] - unit[1:]
        rest = tf.matmul(tf.matmul(g[:1], u, transpose_b=True),
                         tf.linalg.pinv(tf.matmul(d, u, transpose_b=True)))[0]
        return tf.concat([[1.0 - tf.reduce_sum(rest)], rest], axis=0)

    if grads.shape[0] == 1:   # K = 1 known when tracing (--jit_compile compiles both branches of a cond)
        return grads[0], tf.ones([1], grads.dtype)
    alpha = tf.cond(k > 1, several, lambda: tf.ones([k], grads.dtype))
    return tf.linalg.matvec(grads, alpha, transpose_a=True), alpha
    # END SOLUTION
