"""The method zoo, part 2: gradient methods whose state is read and written every step.

* ``gradvac`` (Wang et al. 2021, "Gradient Vaccine", ICLR; LibMTL ``GradVac``, whole-model
  granularity): for each task i, over the other tasks j in a fresh random order, with
  rho = cos(g_i^PC, g_j) and the target phi_ij (an EMA of rho, initialised 0):
  if rho < phi_ij, g_i^PC += g_j ||g_i^PC|| (phi_ij sqrt(1 - rho^2) - rho sqrt(1 - phi_ij^2))
  / (||g_j|| sqrt(1 - phi_ij^2)); then phi_ij <- (1 - beta) phi_ij + beta rho (every pair, every step).
  update = sum_i g_i^PC. Options: ``beta`` (0.5, LibMTL's default ``GradVac_beta``).
  Everything depends on the rows only through G G^T: the coefficients are tracked on the original
  rows (g_i^PC = sum_j W_ij g_j), so update = (1^T W) G and the weights logged are 1^T W.
* ``db_mtl`` (Lin et al. 2023, "Dual-Balancing for Multi-Task Learning"; LibMTL ``DB_MTL``): the
  rows are the gradients of log L_i (the loss-scale half: run it with ``--objective=log``, whose
  rows are grad L_i / (L_i + 1e-8), as ``flags/grad_db_mtl.flags`` does; with another objective
  this is DB-MTL's gradient-magnitude half on that objective's rows); each task's buffer
  b_i <- g_i + (beta / n_i^beta_sigma) (b_i - g_i) (n_i: the steps task i was present, b_i = 0 at
  first); alpha_i = max_j ||b_j|| /
  ||b_i||; update = sum_i alpha_i b_i. Options: ``beta`` (0.9), ``beta_sigma`` (0.0), LibMTL's
  ``DB_beta`` / ``DB_beta_sigma``. The weights logged are alpha (the update is a combination of
  the buffers, not of this step's rows).
* ``excess_mtl`` (He et al. 2024, "Robust Multi-Task Learning with Excess Risks", ICML; LibMTL /
  official ``ExcessMTL``): the AdaGrad-style diagonal s_i += g_i^2, h_i = sqrt(s_i + eps), the
  excess-risk estimate r_i = g_i^T diag(1 / h_i) g_i; each task's first step stores r_i^0 and leaves
  the weights alone, later steps w_i <- w_i exp(robust_step_size r_i / r_i^0), w renormalised to sum
  T; update = sum_i w_i g_i. Options: ``robust_step_size`` (1e-2), ``eps`` (1e-7, the official code's).
  (The reference weights the losses, so its task heads take w_i-weighted gradients too; here, as
  for every method, each task's own variables take the objective's gradient.)
* ``moco`` (Fernando et al. 2023, "Mitigating Gradient Bias in Multi-objective Learning", ICLR;
  LibMTL ``MoCo``): tracked gradients y_i <- y_i - beta_t (y_i - g_i), beta_t = beta / n_i^beta_sigma;
  lambda <- P(lambda - gamma_t (Y Y^T + rho I) lambda), gamma_t = gamma / t^gamma_sigma; update =
  Y^T lambda. P is the paper's Euclidean projection on the simplex (``lambda_update=projection``) or
  LibMTL's / the authors' code's softmax (``softmax``). Options: ``beta`` (0.5), ``beta_sigma`` (0.5),
  ``gamma`` (0.1), ``gamma_sigma`` (0.5), ``rho`` (0.0), ``lambda_update`` (projection). LibMTL also
  rescales each row to norm L_i (it has the losses); a method here sees only the rows. The weights
  logged are lambda (the update combines the tracked y, not this step's rows).
* ``modo`` (Chen et al. 2023, "Three-Way Trade-Off in Multi-Objective Learning", NeurIPS; LibMTL
  ``MoDo``): lambda <- P_simplex(lambda - gamma (G1 G2^T lambda + rho lambda)), update = G3^T lambda.
  Options: ``gamma`` (1e-3), ``rho`` (0.1).
* ``sdmgrad`` (Xiao et al. 2023, "Direction-oriented Multi-objective Learning", NeurIPS; LibMTL
  ``SDMGrad``): A = G1 G2^T / mean_i(sqrt(max(A_ii, 0)))^2, w (kept across steps, 1/T at first)
  takes ``niter`` projected SGD steps (lr 5, momentum 0.5, fresh momentum every step) on
  A w + lamda mean_j A_:j; update = (G3^T w + lamda mean_i g3_i) / (1 + lamda).
  Options: ``lamda`` (0.3), ``niter`` (20).
  MoDo and SDMGrad are defined with three independent batches per step (G1, G2, G3; LibMTL draws
  three); this toolkit's step has one batch, so G1 = G2 = G3 = this step's rows: the
  single-sample variant (a biased estimate of G G^T lambda, which the double sampling avoids).

State (checkpointed ``replicated_state`` variables, tracked as ``grad_method``) is computed inside
the step's branch and written once, after it: under a strategy a replicated write is a
synchronization point and must not sit inside ``tf.cond``. Absent tasks' state is left as it is
(their targets, buffers and accumulators are not touched); per-task counters make the EMAs and
"first step" rules per task, which in joint mode (every task every step) is LibMTL's global step.

Where this deviates from the reference code, and why:
* the ``+ 1e-8`` guards of the reference divisions are exact zero tests here (a zero row has cosine
  0 and no buffer weight), so GradVac, DB-MTL and SDMGrad are equivariant to the rows' scale
  (MoCo's and MoDo's lambda steps depend on G G^T's scale by definition, ExcessMTL's eps too);
* GradVac with phi_ij = 1 (only reachable for exactly parallel rows) skips the correction instead
  of dividing by 1e-8;
* MoCo / MoDo / SDMGrad keep one simplex vector over all T tasks: a step updates the present tasks'
  entries, renormalised to the simplex of the present tasks and written back with their previous
  total mass (in joint mode: the reference update itself).
"""

import numpy as np
import tensorflow as tf

from mtl_tf.methods.base import GradientMethod, gram_matrix, nonfinite_rows
from mtl_tf.methods.solvers import in_xla_context
from mtl_tf.models import split_variables
from mtl_tf.replicas import replicated_state

_F64 = tf.float64


def shared_size(model, tasks) -> int:
    """Entries of the shared variables of ``model`` (the length P of a gradient row)."""
    if model is None:
        raise ValueError("this method keeps per-task state the size of the shared variables: build it with the model.")
    return int(sum(int(np.prod(v.shape)) for v in split_variables(model, tasks)[0]))


class _StatefulMethod(GradientMethod):
    """A method with per-step state: ``_step(grads [T, P], ids [K], state) -> (update [P], weights
    [T], new state)``. ``self._state`` is a list of variables; a step that combines nothing (no task,
    or a non-finite present row) leaves them as they are."""

    _state = ()

    def _init_state(self, seed=0):
        self.seed = seed
        self.calls = replicated_state(tf.constant(0, tf.int64), "calls")

    def _stateless_seed(self):
        return tf.stack([tf.constant(self.seed, tf.int64), self.calls.read_value()])

    def combine(self, grads, present):
        count = tf.reduce_sum(tf.cast(present, tf.int32))
        usable = (count > 0) & ~tf.reduce_any(nonfinite_rows(grads, present))
        state = [v.read_value() for v in self._state]
        if in_xla_context():   # K static in each branch (base.GradientMethod._combine_static)
            order = tf.argsort(tf.cast(~present, tf.int32), stable=True)
            branches = [lambda k=k: self._flat_step(grads, order[:k], state) for k in range(1, len(self.tasks) + 1)]
            combined = lambda: tf.switch_case(tf.maximum(count - 1, 0), branches)  # noqa: E731
        else:
            combined = lambda: self._flat_step(grads, tf.cast(tf.where(present)[:, 0], tf.int32), state)  # noqa: E731
        out = tf.cond(usable, combined, lambda: list(self._nothing(grads, count > 0)) + state)
        update, weights, new_state = out[0], out[1], out[2:]
        self._weights.assign(tf.cast(weights, self._weights.dtype))
        for variable, value in zip(self._state, new_state):
            variable.assign(value)
        self.calls.assign_add(tf.cast(tf.reduce_any(present), tf.int64))
        return update, weights

    def _flat_step(self, grads, ids, state):
        update, weights, new_state = self._step(grads, ids, state)
        return [update, weights] + [tf.cast(s, v.dtype) for s, v in zip(new_state, self._state)]

    def _step(self, grads, ids, state):
        raise NotImplementedError


def _pair_index(ids):
    """[K * K, 2] (ids[a], ids[b]) for every a, b."""
    k = tf.shape(ids)[0]
    return tf.reshape(tf.stack([tf.repeat(ids, k), tf.tile(ids, [k])], axis=1), [-1, 2])


def gradvac_pass(gram, targets, order, beta):
    """One GradVac step on the Gram matrix ``gram`` [K, K] (any positive factor) with the targets
    phi [K, K] and the visiting orders ``order`` [K, K] (row i: a permutation of 0..K-1, i itself
    skipped). Returns (W [K, K] with g_i^PC = sum_j W_ij g_j, the new targets [K, K]), float64."""
    g = tf.cast(gram, _F64)
    g = (g + tf.transpose(g)) / 2
    phi0 = tf.cast(targets, _F64)
    k = tf.shape(g)[0]
    eye = tf.eye(k, dtype=_F64)
    norm_j = tf.sqrt(tf.maximum(tf.linalg.diag_part(g), 0.0))   # ||g_j||
    beta = tf.constant(beta, _F64)

    rows = tf.range(k)

    def body(s, w, phi):
        # every task i at once: its s-th visit j = order[i, s] (g_i^PC only ever reads the original rows)
        j = order[:, s]
        onehot = tf.one_hot(j, k, dtype=_F64)                              # [K, K]: row i = e_j
        visit = tf.not_equal(j, rows)
        dot = tf.reduce_sum(w * tf.gather(g, j), axis=1)                   # g_i^PC . g_j
        ni = tf.sqrt(tf.maximum(tf.reduce_sum(w * tf.matmul(w, g), axis=1), 0.0))
        nj = tf.gather(norm_j, j)
        nn = ni * nj
        rho = tf.clip_by_value(tf.where(nn > 0, dot / tf.where(nn > 0, nn, 1.0), 0.0), -1.0, 1.0)
        target = tf.reduce_sum(phi * onehot, axis=1)                       # phi_ij
        root = tf.sqrt(tf.maximum(1.0 - target * target, 0.0))
        den = nj * root
        coef = ni * (target * tf.sqrt(1.0 - rho * rho) - rho * root)
        coef = tf.where(visit & (rho < target) & (den > 0), coef / tf.where(den > 0, den, 1.0), 0.0)
        moved = tf.where(visit, (1 - beta) * target + beta * rho - target, 0.0)
        return s + 1, w + coef[:, None] * onehot, phi + moved[:, None] * onehot

    matrix = tf.TensorShape([None, None])   # one_hot's depth is a tensor: static sizes may be lost in the loop
    _, w_all, phi_all = tf.while_loop(lambda s, w, p: s < k, body, (tf.constant(0), eye, phi0),
                                      shape_invariants=(tf.TensorShape([]), matrix, matrix))
    return w_all, phi_all


class GradVac(_StatefulMethod):
    """GradVac: PCGrad towards an EMA target cosine per task pair (formula: module docstring).
    Options: ``beta`` (0.5). State: the targets phi [T, T] and the random orders' call counter."""

    def __init__(self, tasks, beta: float = 0.5, seed: int = 0, name=None):
        super().__init__(tasks, name=name)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"gradvac's beta must be in [0, 1], got {beta}.")
        self.beta = float(beta)
        self._init_state(seed)
        n = len(self.tasks)
        self.targets = replicated_state(tf.zeros([n, n], _F64), "targets")
        self._state = [self.targets]

    def _step(self, grads, ids, state):
        (targets,) = state
        t = len(self.tasks)
        present = tf.scatter_nd(ids[:, None], tf.ones_like(ids, tf.bool), [t])
        rows = tf.where(present[:, None], grads, tf.zeros_like(grads))   # absent rows never enter
        gram = tf.gather(tf.gather(gram_matrix(rows), ids), ids, axis=1)
        k = tf.shape(ids)[0]
        order = tf.argsort(tf.random.stateless_uniform(tf.stack([k, k]), seed=self._stateless_seed()), axis=1)
        sub = tf.gather(tf.gather(targets, ids), ids, axis=1)
        w_all, new_sub = gradvac_pass(gram, sub, order, self.beta)
        weights = tf.scatter_nd(ids[:, None], tf.cast(tf.reduce_sum(w_all, axis=0), rows.dtype), [t])
        new_targets = tf.tensor_scatter_nd_update(targets, _pair_index(ids), tf.reshape(new_sub, [-1]))
        return tf.linalg.matvec(rows, weights, transpose_a=True), weights, [new_targets]


class DBMTL(_StatefulMethod):
    """DB-MTL's gradient-magnitude balancing on log-loss rows (formula: module docstring).
    Options: ``beta`` (0.9), ``beta_sigma`` (0.0). State: the buffers [T, P] and the steps per task."""

    def __init__(self, tasks, size: int, beta: float = 0.9, beta_sigma: float = 0.0, dtype=tf.float32, name=None):
        super().__init__(tasks, name=name)
        if not 0.0 <= beta <= 1.0 or beta_sigma < 0:
            raise ValueError(f"db_mtl needs beta in [0, 1] and beta_sigma >= 0, got {beta}, {beta_sigma}.")
        self.beta, self.beta_sigma = float(beta), float(beta_sigma)
        self._init_state()
        n = len(self.tasks)
        self.buffers = replicated_state(tf.zeros([n, int(size)], dtype), "grad_buffers")
        self.steps = replicated_state(tf.zeros([n], tf.int64), "task_steps")
        self._state = [self.buffers, self.steps]

    def _step(self, grads, ids, state):
        buffers, steps = state
        rows = tf.gather(grads, ids)
        n = tf.gather(steps, ids) + 1
        factor = tf.cast(self.beta / tf.cast(n, _F64) ** self.beta_sigma, rows.dtype)[:, None]
        old = tf.cast(tf.gather(buffers, ids), rows.dtype)
        new = rows + factor * (old - rows)
        big = tf.reduce_max(tf.abs(new))
        norms = big * tf.norm(new / tf.where(big > 0, big, 1.0), axis=1)   # no under/overflow of the squares
        top = tf.reduce_max(norms)
        alpha = tf.where(norms > 0, top / tf.where(norms > 0, norms, 1.0), tf.zeros_like(norms))
        weights = tf.scatter_nd(ids[:, None], alpha, [len(self.tasks)])
        update = tf.linalg.matvec(new, alpha, transpose_a=True)
        return update, weights, [tf.tensor_scatter_nd_update(buffers, ids[:, None], tf.cast(new, buffers.dtype)),
                                 tf.tensor_scatter_nd_update(steps, ids[:, None], n)]


class ExcessMTL(_StatefulMethod):
    """ExcessMTL: weights w_i <- w_i exp(step r_i / r_i^0) from AdaGrad-preconditioned excess-risk
    estimates (formula: module docstring). Options: ``robust_step_size`` (1e-2), ``eps`` (1e-7).
    State: the squared-gradient sums [T, P], the weights, r^0 and which tasks have stored r^0."""

    def __init__(self, tasks, size: int, robust_step_size: float = 1e-2, eps: float = 1e-7, dtype=tf.float32,
                 name=None):
        super().__init__(tasks, name=name)
        if robust_step_size < 0 or eps < 0:
            raise ValueError("excess_mtl needs robust_step_size >= 0 and eps >= 0.")
        self.robust_step_size, self.eps = float(robust_step_size), float(eps)
        self._init_state()
        n = len(self.tasks)
        self.squares = replicated_state(tf.zeros([n, int(size)], dtype), "grad_square_sums")
        self.loss_weights = replicated_state(tf.ones([n], _F64), "loss_weights")
        self.initial = replicated_state(tf.zeros([n], _F64), "initial_risks")
        self.initialized = replicated_state(tf.zeros([n], tf.bool), "initialized")
        self._state = [self.squares, self.loss_weights, self.initial, self.initialized]

    def _step(self, grads, ids, state):
        squares, lw, initial, initialized = state
        t = len(self.tasks)
        rows = tf.gather(grads, ids)
        sq = tf.cast(tf.gather(squares, ids), rows.dtype) + rows * rows
        h = tf.sqrt(sq + tf.cast(self.eps, rows.dtype))
        risk = tf.cast(tf.reduce_sum(tf.where(h > 0, rows * rows / tf.where(h > 0, h, 1.0), 0.0), axis=1), _F64)
        first = ~tf.gather(initialized, ids)
        r0 = tf.where(first, risk, tf.gather(initial, ids))
        ratio = tf.where(first | ~(r0 > 0), tf.zeros_like(risk), risk / tf.where(r0 > 0, r0, 1.0))
        factor = tf.scatter_nd(ids[:, None], tf.exp(self.robust_step_size * ratio) - 1.0, [t]) + 1.0
        stepped = lw * factor
        any_update = tf.reduce_any(~first)
        new_lw = tf.where(any_update, stepped / tf.reduce_sum(stepped) * t, lw)
        weights = tf.scatter_nd(ids[:, None], tf.cast(tf.gather(new_lw, ids), rows.dtype), [t])
        update = tf.linalg.matvec(rows, tf.gather(weights, ids), transpose_a=True)
        return update, weights, [tf.tensor_scatter_nd_update(squares, ids[:, None], tf.cast(sq, squares.dtype)),
                                 new_lw, tf.tensor_scatter_nd_update(initial, ids[:, None], r0),
                                 tf.tensor_scatter_nd_update(initialized, ids[:, None], tf.ones_like(first))]


def simplex_projection(v):
    """The Euclidean projection of v [K] on the probability simplex (sort-based, exact)."""
    k = tf.shape(v)[0]
    u = tf.sort(v, direction="DESCENDING")
    css = tf.cumsum(u)
    ind = tf.cast(tf.range(1, k + 1), v.dtype)
    count = tf.reduce_sum(tf.cast(u * ind > css - 1.0, tf.int32))   # >= 1; the condition holds on a prefix
    theta = (tf.gather(css, count - 1) - 1.0) / tf.cast(count, v.dtype)
    return tf.maximum(v - theta, 0.0)


def _present_simplex(lam, ids):
    """(lambda of the present tasks renormalised to the simplex [K], their previous mass)."""
    sub = tf.gather(lam, ids)
    mass = tf.reduce_sum(sub)
    k = tf.cast(tf.shape(ids)[0], lam.dtype)
    return tf.where(mass > 0, sub / tf.where(mass > 0, mass, 1.0), tf.ones_like(sub) / k), mass


def _write_simplex(lam, ids, new_sub, mass, t):
    k = tf.cast(tf.shape(ids)[0], lam.dtype)
    return tf.tensor_scatter_nd_update(lam, ids[:, None], new_sub * tf.where(mass > 0, mass, k / t))


def _exact_gram(rows):
    """rows rows^T [K, K] in float64, not rescaled (MoCo's and MoDo's steps depend on its scale)."""
    r = tf.cast(rows, _F64)
    return tf.matmul(r, r, transpose_b=True)


class MoCo(_StatefulMethod):
    """MoCo: tracked gradients and a simplex step on lambda (formula: module docstring).
    Options: ``beta`` (0.5), ``beta_sigma`` (0.5), ``gamma`` (0.1), ``gamma_sigma`` (0.5), ``rho`` (0.0),
    ``lambda_update`` (projection | softmax). State: y [T, P], the steps per task, lambda [T]."""

    def __init__(self, tasks, size: int, beta: float = 0.5, beta_sigma: float = 0.5, gamma: float = 0.1,
                 gamma_sigma: float = 0.5, rho: float = 0.0, lambda_update: str = "projection", dtype=tf.float32,
                 name=None):
        super().__init__(tasks, name=name)
        if lambda_update not in ("projection", "softmax"):
            raise ValueError(f"moco's lambda_update must be projection or softmax, got {lambda_update!r}.")
        if min(beta, beta_sigma, gamma, gamma_sigma, rho) < 0 or beta > 1:
            raise ValueError("moco needs 0 <= beta <= 1 and beta_sigma, gamma, gamma_sigma, rho >= 0.")
        self.beta, self.beta_sigma, self.gamma, self.gamma_sigma, self.rho = map(
            float, (beta, beta_sigma, gamma, gamma_sigma, rho))
        self.lambda_update = lambda_update
        self._init_state()
        n = len(self.tasks)
        self.tracked = replicated_state(tf.zeros([n, int(size)], dtype), "tracked_gradients")
        self.steps = replicated_state(tf.zeros([n], tf.int64), "task_steps")
        self.lambd = replicated_state(tf.ones([n], _F64) / n, "lambda")
        self._state = [self.tracked, self.steps, self.lambd]

    def _step(self, grads, ids, state):
        y, steps, lam = state
        t = len(self.tasks)
        rows = tf.gather(grads, ids)
        n = tf.gather(steps, ids) + 1
        b = tf.cast(self.beta / tf.cast(n, _F64) ** self.beta_sigma, rows.dtype)[:, None]
        old = tf.cast(tf.gather(y, ids), rows.dtype)
        new_y = old - b * (old - rows)
        step = tf.cast(self.calls.read_value() + 1, _F64)
        g = self.gamma / step ** self.gamma_sigma
        sub, mass = _present_simplex(lam, ids)
        k = tf.shape(ids)[0]
        a = _exact_gram(new_y) + self.rho * tf.eye(k, dtype=_F64)
        v = sub - g * tf.linalg.matvec(a, sub)
        new_sub = simplex_projection(v) if self.lambda_update == "projection" else tf.nn.softmax(v)
        w = tf.cast(new_sub, rows.dtype)
        update = tf.linalg.matvec(new_y, w, transpose_a=True)
        weights = tf.scatter_nd(ids[:, None], w, [t])
        return update, weights, [tf.tensor_scatter_nd_update(y, ids[:, None], tf.cast(new_y, y.dtype)),
                                 tf.tensor_scatter_nd_update(steps, ids[:, None], n),
                                 _write_simplex(lam, ids, new_sub, mass, t)]


class MoDo(_StatefulMethod):
    """MoDo (single-sample): lambda <- P_simplex(lambda - gamma (G G^T + rho I) lambda), update = G^T lambda.
    Options: ``gamma`` (1e-3), ``rho`` (0.1). State: lambda [T]."""

    def __init__(self, tasks, gamma: float = 1e-3, rho: float = 0.1, name=None):
        super().__init__(tasks, name=name)
        if gamma < 0 or rho < 0:
            raise ValueError("modo needs gamma >= 0 and rho >= 0.")
        self.gamma, self.rho = float(gamma), float(rho)
        self._init_state()
        n = len(self.tasks)
        self.lambd = replicated_state(tf.ones([n], _F64) / n, "lambda")
        self._state = [self.lambd]

    def _step(self, grads, ids, state):
        (lam,) = state
        t = len(self.tasks)
        rows = tf.gather(grads, ids)
        sub, mass = _present_simplex(lam, ids)
        a = _exact_gram(rows)
        new_sub = simplex_projection(sub - self.gamma * (tf.linalg.matvec(a, sub) + self.rho * sub))
        w = tf.cast(new_sub, rows.dtype)
        return (tf.linalg.matvec(rows, w, transpose_a=True), tf.scatter_nd(ids[:, None], w, [t]),
                [_write_simplex(lam, ids, new_sub, mass, t)])


class SDMGrad(_StatefulMethod):
    """SDMGrad (single-sample): ``niter`` projected SGD-momentum steps on w, then (G^T w + lamda g0) / (1 + lamda).
    Options: ``lamda`` (0.3), ``niter`` (20). State: w [T]."""

    def __init__(self, tasks, lamda: float = 0.3, niter: int = 20, name=None):
        super().__init__(tasks, name=name)
        if lamda < 0 or niter < 0:
            raise ValueError("sdmgrad needs lamda >= 0 and niter >= 0.")
        self.lamda, self.niter = float(lamda), int(niter)
        self._init_state()
        n = len(self.tasks)
        self.w = replicated_state(tf.ones([n], _F64) / n, "w")
        self._state = [self.w]

    def _step(self, grads, ids, state):
        (lam,) = state
        t = len(self.tasks)
        present = tf.scatter_nd(ids[:, None], tf.ones_like(ids, tf.bool), [t])
        rows_all = tf.where(present[:, None], grads, tf.zeros_like(grads))
        gg = tf.cast(tf.gather(tf.gather(gram_matrix(rows_all), ids), ids, axis=1), _F64)   # scale-free below
        diag = tf.maximum(tf.linalg.diag_part(gg), 0.0)
        scale = tf.reduce_mean(tf.sqrt(diag)) ** 2
        gg = tf.where(scale > 0, gg / tf.where(scale > 0, scale, 1.0), tf.zeros_like(gg))
        gmean = tf.reduce_mean(gg, axis=1)
        sub, mass = _present_simplex(lam, ids)

        def body(i, w, buf):
            grad = tf.linalg.matvec(gg, w) + self.lamda * gmean
            buf = tf.where(i > 0, 0.5 * buf + grad, grad)          # torch SGD momentum 0.5, no dampening
            return i + 1, simplex_projection(w - 5.0 * buf), buf

        _, new_sub, _ = tf.while_loop(lambda i, w, b: i < self.niter, body, (tf.constant(0), sub, tf.zeros_like(sub)))
        k = tf.cast(tf.shape(ids)[0], _F64)
        w = tf.cast((new_sub + self.lamda / k) / (1.0 + self.lamda), grads.dtype)
        weights = tf.scatter_nd(ids[:, None], w, [t])
        return (tf.linalg.matvec(rows_all, weights, transpose_a=True), weights,
                [_write_simplex(lam, ids, new_sub, mass, t)])
