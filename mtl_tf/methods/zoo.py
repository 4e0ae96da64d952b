"""The method zoo: TorchJD's aggregators and LibMTL's gradient weightings, one small class each.

Gramian methods (weights from G G^T only, so representation rows would serve them too):

* ``mean``: w = 1/K.  ``constant``: fixed per-task weights (``weights``, default all 1).
* ``random`` (RLW, Lin et al. 2022; TorchJD ``Random``): w = softmax(N(0, I_K)), fresh each step.
* ``upgrad`` (Quinton & Rey 2024, "Jacobian Descent"): each u_i = pref_i e_i is projected on the
  dual cone, v_i = argmin_{v >= u_i} v^T A v, and w = sum_i v_i, with A = G / tr(G) + reg_eps I.
* ``dualproj`` (GEM, Lopez-Paz & Ranzato 2017, eq. 11): w = argmin_{v >= u} v^T A v, u = 1/K.
* ``aligned_mtl`` (Senushkin et al. 2023, Alg. 1): G = V L V^T (rank r), B = sqrt(l_min) V L^-1/2 V^T,
  w = B (1/K) (``scale_mode`` min | median | rmse picks l_min, the median or mean eigenvalue).
* ``nash_mtl`` (Navon et al. 2022): the bargaining solution A a = 1 / a, a > 0, with
  A = G / ||G||_F + reg_eps I, then the update is clipped to norm ``max_norm`` (1.0, the paper's;
  0 = no clip).
* ``fairgrad`` (Ban & Ji 2024): A w = w^(-1/alpha), w > 0 (alpha = 1 is proportional fairness =
  Nash-MTL), A = G / tr(G) + reg_eps I.
* ``krum`` (Blanchard et al. 2017; Multi-Krum): score_i = sum of the K - f - 2 smallest distances
  ||g_i - g_j|| (j != i); the ``n_selected`` lowest scores averaged.
* ``config`` (Liu et al. 2024, ConFIG): x = pinv(U) 1 on unit rows U, update = (sum_i g_i.x^) x^.

Rows methods: ``trimmed_mean`` (coordinate-wise, drop the ``trim_number`` largest and smallest),
``graddrop`` (Chen et al. 2020, Alg. 1 lines 10-15: sign purity P = (1 + sum g / sum |g|) / 2 per
coordinate, keep positive entries where P > U, negative ones where P < U, U ~ Uniform(0, 1)).

Where this deviates from the reference code, and why:
* every QP / fixed point is solved exactly (active set, Newton to machine precision) in float64,
  not by a fixed number of iterations (Nash-MTL's 20 CCP steps, FairGrad's least_squares);
* the Gram matrix reaches a method only up to a positive factor (``base.gram_matrix``), so
  normalisations are relative: UPGrad/DualProj/FairGrad use G / tr(G) (TorchJD's ``normalize``
  without its absolute ``norm_eps``), Nash-MTL G / ||G||_F as its official code does. FairGrad's
  code uses the raw G, which makes its step size depend on the gradients' scale.
* Krum / TrimmedMean with fewer present tasks than they need (task-sampled steps) use as many
  neighbours / trim as K allows (K - f - 2 >= 0 neighbours, trim <= (K - 1) / 2).
"""

import tensorflow as tf

from mtl_tf.methods.base import GradientMethod, GramianMethod
from mtl_tf.replicas import replicated_state

_F64 = tf.float64


def _normalized(gram, reg_eps, norm="trace"):
    """A = G / scale + reg_eps I in float64 (scale tr(G) or ||G||_F; A = reg_eps I when G = 0)."""
    g = tf.cast(gram, _F64)
    g = (g + tf.transpose(g)) / 2
    scale = tf.linalg.trace(g) if norm == "trace" else tf.norm(g)
    g = tf.where(scale > 0, g / tf.where(scale > 0, scale, 1.0), tf.zeros_like(g))
    return g + reg_eps * tf.eye(tf.shape(g)[0], dtype=_F64)


def nonneg_qp(a, b, tol=1e-13):
    """z >= 0 minimising 1/2 z^T a z + b.z, for each row of b [B, K]; a [K, K] positive definite.

    Lawson-Hanson's active-set method (exact in finitely many steps): add the free variable whose
    gradient is most negative, solve the equality-constrained problem on the free set, step back to
    feasibility when a free variable would go negative."""
    k = tf.shape(a)[0]
    matrix = tf.TensorShape([None, None])   # [B, K]: sizes known when tracing may be lost in the loop

    def solve(p):
        pm = tf.cast(p, _F64)
        m = a[None] * pm[:, :, None] * pm[:, None, :] + tf.linalg.diag(1.0 - pm)
        return tf.linalg.solve(m, (-b * pm)[..., None])[..., 0] * pm

    def candidates(z, p):
        g = tf.matmul(z, a) + b
        return ~p & (g < -tol), g

    def outer_cond(z, p, it):
        return tf.reduce_any(candidates(z, p)[0]) & (it < 3 * k + 10)

    def outer_body(z, p, it):
        cand, g = candidates(z, p)
        active = tf.reduce_any(cand, axis=1)
        j = tf.argmin(tf.where(cand, g, tf.constant(float("inf"), _F64)), axis=1, output_type=tf.int32)
        p = p | (tf.one_hot(j, k, on_value=True, off_value=False) & active[:, None])

        def inner_cond(z, p, done, i):
            return ~tf.reduce_all(done) & (i < k + 2)

        def inner_body(z, p, done, i):
            s = solve(p)
            bad = p & (s <= 0) & ~done[:, None]
            feasible = ~tf.reduce_any(bad, axis=1)
            stepping = ~feasible & ~done
            ratio = tf.where(bad, z / tf.maximum(z - s, 1e-300), tf.constant(float("inf"), _F64))
            alpha = tf.clip_by_value(tf.reduce_min(ratio, axis=1), 0.0, 1.0)[:, None]
            z_step = z + alpha * (s - z)
            z_new = tf.where((feasible & ~done)[:, None], s, tf.where(stepping[:, None], z_step, z))
            p_new = tf.where(stepping[:, None], p & (z_step > tol), p)
            return z_new, p_new, done | feasible, i + 1

        z, p, _, _ = tf.while_loop(inner_cond, inner_body, (z, p, ~active, tf.constant(0)),
                                   shape_invariants=(matrix, matrix, tf.TensorShape([None]), tf.TensorShape([])))
        return z, p, it + 1

    z0 = tf.zeros_like(b)
    z, _, _ = tf.while_loop(outer_cond, outer_body, (z0, tf.zeros_like(b, tf.bool), tf.constant(0)),
                            shape_invariants=(matrix, matrix, tf.TensorShape([])))
    return tf.maximum(z, 0.0)


def project_weights(u, a):
    """v = argmin_{v >= u} v^T a v for each row u of ``u`` [B, K] (the dual-cone projection of
    J^T u, TorchJD's ``project_weights``)."""
    return u + nonneg_qp(a, tf.matmul(u, a))


def power_balance(a, alpha=1.0, tol=1e-26):
    """w > 0 with a w = w^(-1/alpha) (a [K, K] positive definite, float64): the minimiser of the
    strictly convex 1/2 w^T a w - sum_i h(w_i), h' = w^(-1/alpha), by damped Newton to machine
    precision (Newton decrement below ``tol``, at most 200 steps)."""
    q = 1.0 - 1.0 / alpha

    def f(w):
        h = tf.math.log(w) if alpha == 1.0 else w ** q / q
        return 0.5 * tf.reduce_sum(w * tf.linalg.matvec(a, w)) - tf.reduce_sum(h)

    def grad_hess(w):
        g = tf.linalg.matvec(a, w) - w ** (-1.0 / alpha)
        h = a + tf.linalg.diag(w ** (-1.0 / alpha - 1.0) / alpha)
        return g, h

    def cond(w, it, dec):
        return (dec > tol) & (it < 200)

    def body(w, it, dec):
        g, h = grad_hess(w)
        d = -tf.linalg.solve(h, g[:, None])[:, 0]
        dec = -tf.reduce_sum(g * d)
        # fraction to the boundary, then Armijo halving
        one = tf.constant(1.0, _F64)
        t0 = tf.minimum(one, tf.reduce_min(tf.where(d < 0, -0.5 * w / tf.minimum(d, -1e-300), one)))

        def bt_cond(t, i):
            # near the solution (dec tiny) f's round-off hides the decrease: take the Newton step
            return (dec > 1e-10) & (f(w + t * d) > f(w) - 0.25 * t * dec) & (i < 60)

        t, _ = tf.while_loop(bt_cond, lambda t, i: (t / 2, i + 1), (t0, tf.constant(0)))
        return w + t * d, it + 1, dec

    w0 = tf.linalg.diag_part(a) ** (-alpha / (alpha + 1.0))
    w, _, _ = tf.while_loop(cond, body, (w0, tf.constant(0), tf.constant(1.0, _F64)),
                            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([]), tf.TensorShape([])))
    return w


class _Stepped:
    """A per-call counter (checkpointed) for methods that draw random numbers: seed (run seed, calls)."""

    def _init_counter(self, seed):
        self.seed = seed
        self.calls = replicated_state(tf.constant(0, tf.int64), "calls")

    def _stateless_seed(self):
        return tf.stack([tf.constant(self.seed, tf.int64), self.calls.read_value()])

    def combine(self, grads, present):
        update, weights = super().combine(grads, present)
        # outside combine's tf.cond: under a strategy a replicated write is a synchronization point
        self.calls.assign_add(tf.cast(tf.reduce_any(present), tf.int64))
        return update, weights


def _pref(k, dtype=_F64):
    return tf.fill([k], tf.cast(1.0, dtype) / tf.cast(k, dtype))


class Mean(GramianMethod):
    """TorchJD ``Mean``: w = 1/K. Options: none."""

    def _weights_of(self, gram):
        return _pref(tf.shape(gram)[0], gram.dtype)


class Constant(GramianMethod):
    """TorchJD ``Constant``: update = sum_i c_i g_i with fixed c. Options: ``weights`` (one per task;
    empty: all 1)."""

    def __init__(self, tasks, weights=(), name=None):
        super().__init__(tasks, name=name)
        weights = [float(w) for w in weights] or [1.0] * len(self.tasks)
        if len(weights) != len(self.tasks):
            raise ValueError(f"constant needs one weight per task ({len(self.tasks)}), got {len(weights)}.")
        self.constant = tf.constant(weights, tf.float64)

    def _combine_present(self, grads, ids):
        w = tf.gather(tf.cast(self.constant, grads.dtype), ids)
        weights = tf.scatter_nd(ids[:, None], w, [len(self.tasks)])
        rows = tf.where(weights[:, None] != 0, grads, tf.zeros_like(grads))
        return tf.linalg.matvec(rows, weights, transpose_a=True), weights


class RandomWeights(_Stepped, GramianMethod):
    """RLW / TorchJD ``Random``: w = softmax(N(0, I_K)), drawn fresh each step (stateless, seed
    (run seed, calls)). Options: none."""

    def __init__(self, tasks, seed=0, name=None):
        super().__init__(tasks, name=name)
        self._init_counter(seed)

    def _weights_of(self, gram):
        z = tf.random.stateless_normal([tf.shape(gram)[0]], self._stateless_seed(), dtype=_F64)
        return tf.nn.softmax(z)


class UPGrad(GramianMethod):
    """UPGrad: w = sum_i argmin_{v >= e_i / K} v^T A v, A = G / tr(G) + reg_eps I.
    Options: ``reg_eps`` (1e-4, TorchJD's)."""

    def __init__(self, tasks, reg_eps: float = 1e-4, name=None):
        super().__init__(tasks, name=name)
        self.reg_eps = reg_eps

    def _weights_of(self, gram):
        a = _normalized(gram, self.reg_eps)
        k = tf.shape(a)[0]
        return tf.reduce_sum(project_weights(tf.linalg.diag(_pref(k)), a), axis=0)


class DualProj(UPGrad):
    """DualProj: w = argmin_{v >= 1/K} v^T A v, A = G / tr(G) + reg_eps I: the mean projected on the
    dual cone. Options: ``reg_eps`` (1e-4)."""

    def _weights_of(self, gram):
        a = _normalized(gram, self.reg_eps)
        return project_weights(_pref(tf.shape(a)[0])[None], a)[0]


class AlignedMTL(GramianMethod):
    """Aligned-MTL: w = B (1/K), B = sqrt(scale) V_r L_r^-1/2 V_r^T over the eigenvalues above
    max(l) K eps. Options: ``scale_mode`` ("min": the smallest kept eigenvalue; "median"; "rmse": the mean)."""

    def __init__(self, tasks, scale_mode: str = "min", name=None):
        super().__init__(tasks, name=name)
        if scale_mode not in ("min", "median", "rmse"):
            raise ValueError(f"aligned_mtl's scale_mode must be min, median or rmse, got {scale_mode!r}.")
        self.scale_mode = scale_mode

    def _weights_of(self, gram):
        eps = 1.1920929e-07 if gram.dtype == tf.float32 else 2.220446049250313e-16   # the input's machine eps
        a = _normalized(gram, 0.0)
        lam, v = tf.linalg.eigh(a)
        k = tf.shape(a)[0]
        keep = lam > tf.reduce_max(lam) * tf.cast(k, _F64) * eps
        safe = tf.where(keep, lam, 1.0)
        r = tf.reduce_sum(tf.cast(keep, tf.int32))
        if self.scale_mode == "min":
            scale = tf.reduce_min(tf.where(keep, lam, tf.constant(float("inf"), _F64)))
        elif self.scale_mode == "rmse":
            scale = tf.reduce_sum(tf.where(keep, lam, 0.0)) / tf.cast(tf.maximum(r, 1), _F64)
        else:   # torch.median: the lower middle of the kept eigenvalues (sorted: dropped ones first)
            scale = tf.gather(tf.sort(lam), k - r + (tf.maximum(r, 1) - 1) // 2)
        inv = tf.where(keep, tf.sqrt(scale) / tf.sqrt(safe), 0.0)
        b = tf.matmul(v * inv[None], v, transpose_b=True)
        w = tf.linalg.matvec(b, _pref(k))
        return tf.cond(tf.reduce_any(keep), lambda: w, lambda: _pref(k))


class NashMTL(GramianMethod):
    """Nash-MTL: A a = 1/a (a > 0), A = G / ||G||_F + reg_eps I, solved exactly; the update
    sum_i a_i g_i is then clipped to norm ``max_norm``. Options: ``max_norm`` (1.0; 0 = no clip),
    ``reg_eps`` (1e-6: keeps a zero or cancelling row's weight finite)."""

    def __init__(self, tasks, max_norm: float = 1.0, reg_eps: float = 1e-6, name=None):
        super().__init__(tasks, name=name)
        self.max_norm, self.reg_eps = max_norm, reg_eps

    def _weights_of(self, gram):
        return power_balance(_normalized(gram, self.reg_eps, norm="fro"), 1.0)

    def _combine_present(self, grads, ids):
        update, weights = super()._combine_present(grads, ids)
        if self.max_norm > 0:
            norm = tf.norm(update)
            factor = tf.where(norm > self.max_norm, self.max_norm / tf.where(norm > 0, norm, 1.0), 1.0)
            update, weights = update * factor, weights * factor
        return update, weights


class FairGrad(GramianMethod):
    """FairGrad: A w = w^(-1/alpha) (w > 0), A = G / tr(G) + reg_eps I. Options: ``alpha`` (1.0, the
    paper's default), ``reg_eps`` (1e-6)."""

    def __init__(self, tasks, alpha: float = 1.0, reg_eps: float = 1e-6, name=None):
        super().__init__(tasks, name=name)
        if alpha <= 0:
            raise ValueError(f"fairgrad's alpha must be > 0, got {alpha}.")
        self.alpha, self.reg_eps = float(alpha), reg_eps

    def _weights_of(self, gram):
        return power_balance(_normalized(gram, self.reg_eps), self.alpha)


class Krum(GramianMethod):
    """(Multi-)Krum: the ``n_selected`` rows (1) with the lowest sum of distances to their
    K - ``n_byzantine`` - 2 nearest other rows, averaged. Options: ``n_byzantine`` (0), ``n_selected`` (1)."""

    def __init__(self, tasks, n_byzantine: int = 0, n_selected: int = 1, name=None):
        super().__init__(tasks, name=name)
        if n_byzantine < 0 or n_selected < 1:
            raise ValueError("krum needs n_byzantine >= 0 and n_selected >= 1.")
        self.n_byzantine, self.n_selected = int(n_byzantine), int(n_selected)

    def _weights_of(self, gram):
        g = tf.cast(gram, _F64)
        k = tf.shape(g)[0]
        sq = tf.linalg.diag_part(g)
        dist = tf.sqrt(tf.maximum(sq[:, None] + sq[None, :] - 2 * g, 0.0))
        dist = tf.where(tf.eye(k, dtype=tf.bool), tf.constant(-1.0, _F64), dist)   # self first in the sort, whatever ties
        srt = tf.sort(dist, axis=1)
        n_closest = tf.maximum(k - self.n_byzantine - 2, 0)
        col = tf.range(k)[None]
        scores = tf.reduce_sum(tf.where((col >= 1) & (col <= n_closest), srt, 0.0), axis=1)
        m = tf.minimum(self.n_selected, k)
        order = tf.argsort(scores, stable=True)
        chosen = tf.cast(tf.range(k) < m, _F64) / tf.cast(m, _F64)
        return tf.scatter_nd(order[:, None], chosen, [k])


class ConFIG(GramianMethod):
    """ConFIG: x = pinv(U) 1 with U the unit rows (zero rows stay 0), x^ = x / ||x||, update =
    (sum_i g_i.x^) x^. From the Gram matrix: C = D^-1 G D^-1, a = pinv(C) 1, c = a / ||g||,
    w = c (1^T G c) / (c^T G c). Options: none."""

    def _weights_of(self, gram):
        g = tf.cast(gram, _F64)
        g = (g + tf.transpose(g)) / 2
        k = tf.shape(g)[0]
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(g), 0.0))
        big = tf.reduce_max(norms)
        nonzero = norms > big * 1e-150
        inv = tf.where(nonzero, 1.0 / tf.where(nonzero, norms, 1.0), 0.0)
        c_mat = g * inv[:, None] * inv[None, :]
        lam, v = tf.linalg.eigh(c_mat)
        eps = 1.1920929e-07 if gram.dtype == tf.float32 else 2.220446049250313e-16   # pinv's cut: K eps of the input
        keep = lam > tf.reduce_max(lam) * tf.cast(k, _F64) * 10 * eps
        lam_inv = tf.where(keep, 1.0 / tf.where(keep, lam, 1.0), 0.0)
        a = tf.linalg.matvec(tf.matmul(v * lam_inv[None], v, transpose_b=True), tf.cast(nonzero, _F64))
        c = a * inv
        gc = tf.linalg.matvec(g, c)
        cgc = tf.reduce_sum(c * gc)
        return tf.where(cgc > 0, c * tf.reduce_sum(gc) / tf.where(cgc > 0, cgc, 1.0), tf.zeros_like(c))


class TrimmedMean(GradientMethod):
    """Coordinate-wise trimmed mean: per coordinate drop the ``trim_number`` (1) largest and smallest
    values and average the rest (trim at most (K - 1) / 2). Not a combination of the rows: the
    weights logged are 1/K."""

    def __init__(self, tasks, trim_number: int = 1, name=None):
        super().__init__(tasks, name=name)
        if trim_number < 0:
            raise ValueError(f"trimmed_mean's trim_number must be >= 0, got {trim_number}.")
        self.trim_number = int(trim_number)

    def _combine(self, rows):
        k = tf.shape(rows)[0]
        t = tf.minimum(self.trim_number, (k - 1) // 2)
        srt = tf.sort(rows, axis=0)
        idx = tf.range(k)[:, None]
        keep = tf.cast((idx >= t) & (idx < k - t), rows.dtype)
        update = tf.reduce_sum(srt * keep, axis=0) / tf.cast(k - 2 * t, rows.dtype)
        return update, _pref(k, rows.dtype)


class GradDrop(_Stepped, GradientMethod):
    """GradDrop: P = (1 + sum_i g_i / sum_i |g_i|) / 2 per coordinate, U ~ Uniform(0, 1) per
    coordinate and step, M_i = [P > U][g_i > 0] + [P < U][g_i < 0], update = sum_i (l + (1 - l) M_i) g_i.
    Options: ``leak`` (0.0, the same for every task). The weights logged are each row's kept fraction."""

    def __init__(self, tasks, leak: float = 0.0, seed=0, name=None):
        super().__init__(tasks, name=name)
        if not 0.0 <= leak <= 1.0:
            raise ValueError(f"graddrop's leak must be in [0, 1], got {leak}.")
        self.leak = leak
        self._init_counter(seed)

    def _combine(self, rows):
        total, absolute = tf.reduce_sum(rows, axis=0), tf.reduce_sum(tf.abs(rows), axis=0)
        purity = 0.5 * (1.0 + total / tf.where(absolute > 0, absolute, 1.0))
        u = tf.random.stateless_uniform(tf.shape(purity), self._stateless_seed(), dtype=rows.dtype)
        mask = tf.cast(((purity > u)[None] & (rows > 0)) | ((purity < u)[None] & (rows < 0)), rows.dtype)
        kept = self.leak + (1.0 - self.leak) * mask
        return tf.reduce_sum(kept * rows, axis=0), tf.reduce_mean(kept, axis=1)
