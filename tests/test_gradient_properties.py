"""Gradient methods against exact references and their stated properties (the TorchJD way).

One shared set of per-task gradient matrices G [K, P] -- conflicting pairs, near-parallel rows, a
zero row, duplicated rows, rank-deficient G (K > P), rows whose norms differ by 1e6, small-integer
matrices, random K = 1..20 -- at scales 1e-20 .. 1e20, in float32 and float64. One property
function per promise, applied to every method that makes it:

  combination  update == weights @ G                                 (every method)
  scale        G -> s G gives s * update and the same weights        (every method)
  permutation  permuting the rows permutes the weights, same update  (every method but PCGrad)
  simplex      weights >= 0, summing to 1                            (MGDA)
  min-norm     KKT: g_i.d >= ||d||^2 for all i, = where w_i > 0, and the exact min-norm point
               by active-set enumeration for K <= 7                   (MGDA)
  non-conflicting  g_i.d >= 0                                        (MGDA, CAGrad with c >= 1)
  CAGrad's optimum  a weak-duality certificate: primal min_i g_i.d within the ball equals a
               dual value F(w) >= the optimum                        (CAGrad)
  no conflict  the plain sum when no pair conflicts                   (PCGrad)
  equal projections  u_i.update the same for every nonzero row      (IMTL-G)

Plus one test per defect found against LibMTL / TorchJD / an exact solver (issue 16), each failing
on the previous implementation. The methods run as ``tf.function`` graphs (one trace per dtype).
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl

SCALES = [1e-20, 1e-7, 1.0, 1e20]


def gm():
    return impl.module("gradients")


# ---- the shared inputs ---------------------------------------------------------------------------------

def _inputs():
    """[(name, G float64 [K, P])]: every kind of matrix a gradient method must handle."""
    rng = np.random.default_rng(16)
    cases = [
        ("conflicting_pair", np.array([[1.0, 0.0], [-1.0, 1.0]])),
        ("issue_mgda_3x2", np.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])),
        ("issue_cagrad_2x2", np.array([[-2.0, -1.0], [1.0, 0.0]])),
        ("issue_mgda_tiny_t2", np.array([[1.0, 0.0], [-0.5, 1.0]])),
        ("near_parallel", np.array([[1.0, 1e-3, 0.0], [1.0, -1e-3, 0.0], [1.0, 0.0, 1e-3]])),
        ("zero_row", np.vstack([rng.normal(size=(2, 5)), np.zeros((1, 5))])),
        ("duplicated_rows", np.repeat(rng.normal(size=(2, 4)), 2, axis=0)),
        ("rank_deficient", rng.normal(size=(6, 3))),
        ("norms_1e6_apart", rng.normal(size=(3, 6)) * np.array([[1e3], [1.0], [1e-3]])),
        ("single_row", rng.normal(size=(1, 5))),
    ]
    for i in range(12):   # small-integer matrices: where Frank-Wolfe stopped short of the optimum
        k, p = rng.integers(2, 6), rng.integers(2, 5)
        cases.append((f"small_integer_{i}", rng.integers(-3, 4, size=(k, p)).astype(np.float64)))
    for k in (2, 3, 5, 8, 13, 20):
        cases.append((f"random_k{k}", rng.normal(size=(k, 40)) * np.exp(rng.normal(size=(k, 1)))))
    cases.append(("conflicting_k20", np.vstack([rng.normal(size=(10, 30)), -rng.normal(size=(10, 30))])))
    return cases


INPUTS = _inputs()
INPUT_IDS = [name for name, _ in INPUTS]


# ---- the methods, as graphs ------------------------------------------------------------------------------

_GRAPHS = {}


def run(method, g, dtype):
    """(update, weights) of ``method`` on ``g`` as float64 numpy arrays, computed in ``dtype``."""
    key = (method, dtype, impl.module("gradients"))
    if key not in _GRAPHS:
        fn = METHODS[method]
        _GRAPHS[key] = tf.function(lambda x: fn(x), input_signature=[tf.TensorSpec([None, None], dtype)])
    update, weights = _GRAPHS[key](tf.constant(np.asarray(g), dtype))
    return np.asarray(update, np.float64), np.asarray(weights, np.float64)


METHODS = {
    "sum_gradients": lambda g: gm().sum_gradients(g),
    "pcgrad": lambda g: gm().pcgrad(g, tf.constant([5, 7], tf.int64)),
    "mgda": lambda g: gm().mgda(g),
    "cagrad_c0.5": lambda g: gm().cagrad(g, c=0.5),
    "cagrad_c1": lambda g: gm().cagrad(g, c=1.0),
    "cagrad_c2": lambda g: gm().cagrad(g, c=2.0),
    "imtl_g": lambda g: gm().imtl_g(g),
}
CAGRAD_C = {"cagrad_c0.5": 0.5, "cagrad_c1": 1.0, "cagrad_c2": 2.0}
PERMUTATION_EQUIVARIANT = ["sum_gradients", "mgda", "cagrad_c0.5", "cagrad_c1", "cagrad_c2", "imtl_g"]
NON_CONFLICTING = ["mgda", "cagrad_c1", "cagrad_c2"]
DTYPES = {"float32": tf.float32, "float64": tf.float64}
TOL = {"float32": 2e-4, "float64": 1e-7}   # relative to the largest row norm (squared for inner products)


def _norm_scale(g):
    return float(np.max(np.linalg.norm(g, axis=1))) or 1.0


# ---- one property a function ---------------------------------------------------------------------------

def assert_combination(method, g, update, weights, tol):
    r = _norm_scale(g)
    np.testing.assert_allclose(update / r, weights @ g / r, atol=tol * max(1.0, np.abs(weights).max()),
                               err_msg=f"{method}: update is not weights @ grads (weights {weights})")


def unique_weights(method, g):
    """Whether the method's weights are determined by its update: always for the sum and PCGrad
    (functions of the Gram matrix), for the others when the rows are linearly independent."""
    return method in ("sum_gradients", "pcgrad") or np.linalg.matrix_rank(g, tol=1e-8 * _norm_scale(g)) == len(g)


def assert_scale_equivariant(method, g, dtype, tol):
    base_u, base_w = run(method, g, dtype)
    for s in SCALES:
        u, w = run(method, s * g, dtype)
        assert np.all(np.isfinite(u)) and np.all(np.isfinite(w)), (
            f"{method} at scale {s:g}: non-finite update or weights {w}")
        if unique_weights(method, g):
            np.testing.assert_allclose(w, base_w, rtol=10 * tol, atol=10 * tol * max(1.0, np.abs(base_w).max()),
                                       err_msg=f"{method}: weights changed when G was scaled by {s:g}")
        np.testing.assert_allclose(u / s / _norm_scale(g), base_u / _norm_scale(g), atol=10 * tol * max(
            1.0, np.abs(base_w).max()), err_msg=f"{method}: update for {s:g} G is not {s:g} times the update for G")


def assert_permutation_equivariant(method, g, dtype, tol, unique_weights):
    perm = np.random.default_rng(len(g)).permutation(len(g))
    u, w = run(method, g, dtype)
    up, wp = run(method, g[perm], dtype)
    r = _norm_scale(g)
    np.testing.assert_allclose(up / r, u / r, atol=10 * tol * max(1.0, np.abs(w).max()),
                               err_msg=f"{method}: the update changed when the tasks were permuted")
    if unique_weights:
        np.testing.assert_allclose(wp, w[perm], atol=10 * tol * max(1.0, np.abs(w).max()),
                                   err_msg=f"{method}: the weights did not follow the permuted tasks")


def assert_simplex(method, weights, tol):
    assert np.all(weights >= -tol) and abs(weights.sum() - 1) <= tol * len(weights), (
        f"{method}: weights must lie on the simplex (>= 0, sum 1), got {weights}")


def assert_min_norm_kkt(method, g, update, weights, tol):
    """d = update is the min-norm point of the hull iff g_i.d >= ||d||^2 for all i, with equality
    where w_i > 0 (a convex problem: KKT is sufficient)."""
    r2 = _norm_scale(g) ** 2
    gd, dd = g @ update, update @ update
    assert np.all(gd >= dd - tol * r2), (
        f"{method}: not the min-norm point: g_i.d = {gd} must all be >= ||d||^2 = {dd} (weights {weights})")
    used = weights > 10 * tol
    np.testing.assert_allclose(gd[used] / r2, dd / r2, atol=10 * tol, err_msg=(
        f"{method}: rows with weight > 0 must have g_i.d = ||d||^2 = {dd}; got {gd[used]} (weights {weights})"))


def exact_min_norm(g):
    """The min-norm point of the rows' convex hull by active-set enumeration (float64): for every
    subset S, the affine minimiser of S; the best one that is in the hull and satisfies KKT."""
    g = np.asarray(g, np.float64)
    k, m = len(g), g @ g.T
    best = None
    for size in range(1, k + 1):
        for s in itertools.combinations(range(k), size):
            s = list(s)
            a = np.zeros((size + 1, size + 1))
            a[:size, :size], a[:size, size], a[size, :size] = m[np.ix_(s, s)], 1.0, 1.0
            v = np.linalg.lstsq(a, np.r_[np.zeros(size), 1.0], rcond=None)[0][:size]
            if np.any(v < -1e-12):
                continue
            w = np.zeros(k)
            w[s] = v
            d = w @ g
            if np.all(g @ d >= d @ d - 1e-9 * m.diagonal().max()) and (best is None or d @ d < best @ best):
                best = d
    return best


def assert_cagrad_optimal(method, g, update, weights, tol):
    """Weak duality: for any w on the simplex and any d in the ball ||d - g0|| <= c ||g0||,
    min_i g_i.d <= F(w) = g_w.g0 + c ||g0|| ||g_w||. Our d = (1 + c) update must be in the ball and
    reach a dual value (at w from its own weights, or the min-norm point's) within tol: optimal."""
    c = CAGRAD_C[method]
    k = len(g)
    g0 = g.mean(0)
    radius = c * np.linalg.norm(g0)
    d = (1 + c) * update
    r = _norm_scale(g)
    assert np.linalg.norm(d - g0) <= radius + tol * r, (
        f"{method}: d = (1 + c) update is outside the ball: ||d - g0|| = {np.linalg.norm(d - g0)} > {radius}")
    candidates = [(1 + c) * weights - 1.0 / k, run("mgda", g, tf.float64)[1]]   # any simplex w bounds it
    dual = min(_cagrad_dual(g, w / w.sum(), radius) for w in candidates if w.sum() > 0 and np.all(w >= -1e-9))
    primal = np.min(g @ d)
    assert dual - primal <= tol * r * r * 10, (
        f"{method}: not optimal: min_i g_i.d = {primal} but the dual reaches {dual} (weights {weights})")


def _cagrad_dual(g, w, radius):
    gw = w @ g
    return gw @ g.mean(0) + radius * np.linalg.norm(gw)


# ---- the shared property tests ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("method", list(METHODS))
def test_update_is_the_combination_of_its_weights_and_scales_with_g(method, dtype):
    for name, g in INPUTS:
        if method == "imtl_g" and name in ("rank_deficient", "zero_row", "duplicated_rows"):
            continue
        update, weights = run(method, g, DTYPES[dtype])
        assert_combination(method, g, update, weights, TOL[dtype])
        assert_scale_equivariant(method, g, DTYPES[dtype], TOL[dtype])


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("method", PERMUTATION_EQUIVARIANT)
def test_permuting_tasks_permutes_the_weights(method, dtype):
    for name, g in INPUTS:
        if method == "imtl_g" and name in ("rank_deficient", "zero_row", "duplicated_rows"):
            continue
        assert_permutation_equivariant(method, g, DTYPES[dtype], TOL[dtype], unique_weights(method, g))


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_mgda_is_the_exact_min_norm_point(dtype):
    for name, g in INPUTS:
        update, weights = run("mgda", g, DTYPES[dtype])
        assert_simplex("mgda", weights, TOL[dtype])
        assert_min_norm_kkt("mgda", g, update, weights, TOL[dtype])
        if len(g) <= 7:
            exact = exact_min_norm(g)
            r = _norm_scale(g)
            np.testing.assert_allclose(update / r, exact / r, atol=10 * TOL[dtype], err_msg=(
                f"mgda on {name}: expected the min-norm point {exact} (active-set enumeration), got {update}"))


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_mgda_on_many_random_matrices(dtype):
    """Random K = 2..20 at random scales: KKT every time (the old Frank-Wolfe failed 1 in 6)."""
    rng = np.random.default_rng(61)
    for trial in range(150):
        k, p = int(rng.integers(2, 21)), int(rng.integers(2, 30))
        g = rng.normal(size=(k, p)) * np.exp(rng.normal(size=(k, 1)) * 2) * 10.0 ** rng.uniform(-15, 15)
        if trial % 3 == 0:
            g = rng.integers(-3, 4, size=(k, p)).astype(np.float64)
        update, weights = run("mgda", g, DTYPES[dtype])
        assert_simplex("mgda", weights, TOL[dtype])
        assert_min_norm_kkt("mgda", g, update, weights, TOL[dtype])


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("method", NON_CONFLICTING)
def test_non_conflicting_methods_conflict_with_no_task(method, dtype):
    for name, g in INPUTS:
        update, _ = run(method, g, DTYPES[dtype])
        gd = g @ update
        assert np.all(gd >= -TOL[dtype] * _norm_scale(g) ** 2), (
            f"{method} on {name}: the update conflicts with a task: G @ update = {gd}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("method", list(CAGRAD_C))
def test_cagrad_solves_its_problem_exactly(method, dtype):
    rng = np.random.default_rng(7)
    extra = [(f"r{i}", rng.normal(size=(int(rng.integers(2, 9)), int(rng.integers(2, 12))))
              * np.exp(rng.normal(size=(1, 1)) * 3)) for i in range(25)]
    for name, g in INPUTS + extra:
        update, weights = run(method, g, DTYPES[dtype])
        assert_cagrad_optimal(method, g, update, weights, 10 * TOL[dtype])


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_pcgrad_without_conflicts_is_the_sum(dtype):
    rng = np.random.default_rng(3)
    for k in (1, 2, 5, 20):
        g = np.abs(rng.normal(size=(k, 9)))   # positive entries: every pair has g_i.g_j > 0
        for s in SCALES:
            update, weights = run("pcgrad", s * g, DTYPES[dtype])
            np.testing.assert_allclose(weights, np.ones(k), atol=TOL[dtype],
                                       err_msg=f"pcgrad without conflicts must weigh every task 1 (scale {s:g})")


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_imtl_g_projections_are_equal(dtype):
    for name, g in INPUTS:
        if name in ("rank_deficient", "zero_row", "duplicated_rows") or len(g) > g.shape[1]:
            continue
        update, weights = run("imtl_g", g, DTYPES[dtype])
        unit = g / np.linalg.norm(g, axis=1, keepdims=True)
        proj = unit @ update / _norm_scale(g)
        np.testing.assert_allclose(proj, np.full(len(g), proj[0]), atol=50 * TOL[dtype], err_msg=(
            f"imtl_g on {name}: projections on the unit task gradients differ: {proj}"))
        assert abs(weights.sum() - 1) < 50 * TOL[dtype]


# ---- the defects of issue 16, one test each (each failed on the previous solvers) ------------------------

@pytest.mark.parametrize("dtype", list(DTYPES))
def test_defect1_mgda_reaches_the_min_norm_point_frank_wolfe_missed(dtype):
    g = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])
    update, weights = run("mgda", g, DTYPES[dtype])
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.0], atol=1e-5, err_msg=(
        f"the min-norm point of the hull of {g.tolist()} is g_1 (||d||^2 = 1), got weights {weights}, "
        f"||d||^2 = {update @ update}"))


def test_defect1_mgda_in_the_framework_step_is_exact_and_order_free():
    """Through the framework's MGDA (compiled solver, Gram from all rows): exact, and permuting the
    tasks gives the same update."""
    from mtl_tf.methods import MGDA
    from mtl_tf.tasks import Task
    rng = np.random.default_rng(20)
    tasks = [Task(f"t{i}", "regression") for i in range(20)]
    method = MGDA(tasks)
    combine = tf.function(method.combine)
    for trial in range(20):
        g = rng.integers(-3, 4, size=(20, 6)).astype(np.float32)
        present = np.ones(20, bool)
        u, w = (np.asarray(x, np.float64) for x in combine(tf.constant(g), tf.constant(present)))
        assert_min_norm_kkt("MGDA (framework)", g.astype(np.float64), u, w, TOL["float32"])
        perm = rng.permutation(20)
        up, _ = combine(tf.constant(g[perm]), tf.constant(present))
        np.testing.assert_allclose(np.asarray(up), u, atol=1e-4 * _norm_scale(g))


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_defect2_cagrad_c2_does_not_conflict(dtype):
    g = np.array([[-2.0, -1.0], [1.0, 0.0]])
    update, _ = run("cagrad_c2", g, DTYPES[dtype])
    np.testing.assert_allclose(g @ update, [1 / 6, 1 / 6], atol=1e-5, err_msg=(
        f"CAGrad at c = 2 on {g.tolist()}: expected G @ update = [1/6, 1/6], got {g @ update}"))


def test_defect2_cagrad_default_c_on_rows_of_very_different_norms():
    g = np.array([[100.0, 0.0, 1.0], [-0.01, 0.02, 0.0], [0.0, -3.0, 0.5]])
    update, weights = run("cagrad_c0.5", g, tf.float64)
    assert_cagrad_optimal("cagrad_c0.5", g, update, weights, 1e-9)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_defect3_tiny_gradients_give_the_same_weights(dtype):
    g = np.array([[1.0, 0.0], [-0.5, 1.0]])
    for s in (1e-6, 1e-7, 1e-20):
        _, w = run("mgda", s * g, DTYPES[dtype])
        np.testing.assert_allclose(w, [7 / 13, 6 / 13], atol=1e-5, err_msg=(
            f"MGDA on {s:g} * {g.tolist()}: expected weights [0.538, 0.462] at every scale, got {w}"))
        _, w = run("pcgrad", s * g, DTYPES[dtype])
        np.testing.assert_allclose(w, [1.5, 1.4], atol=1e-5, err_msg=(
            f"PCGrad on {s:g} * {g.tolist()}: expected weights [1.5, 1.4] at every scale, got {w}"))
    _, w = run("mgda", 1e20 * g, DTYPES[dtype])
    np.testing.assert_allclose(w, [7 / 13, 6 / 13], atol=1e-5, err_msg=f"MGDA at 1e20: got {w}")


def test_defect4_absent_nan_row_does_not_poison_mgda():
    from mtl_tf.methods import MGDA, CAGrad, PCGrad, IMTL
    from mtl_tf.tasks import Task
    tasks = [Task(n, "regression") for n in "abc"]
    g = np.array([[1.0, 0.0], [np.nan, np.inf], [0.0, 2.0]], np.float32)
    present = tf.constant([True, False, True])
    for method in (MGDA(tasks), CAGrad(tasks), PCGrad(tasks), IMTL(tasks)):
        update, weights = method.combine(tf.constant(g), present)
        assert np.all(np.isfinite(np.asarray(update))), (
            f"{type(method).__name__}: an absent task's NaN row reached the update {np.asarray(update)}")
        assert float(weights[1]) == 0.0


def test_defect4_a_nonfinite_present_row_reaches_the_nan_policy_with_the_task_name():
    """A finite loss with an infinite gradient (sqrt at 0) for task 'b': the step guard stops the
    run and names 'b'."""
    from mtl_tf.data import standardize
    from mtl_tf.data.correlated import make_correlated_regression
    from mtl_tf.methods import MGDA
    from mtl_tf.models import model_inputs, task_layer_name
    from mtl_tf.objectives import make_objective
    from mtl_tf.training import TrainConfig, Trainer, TrainingError
    data = standardize(make_correlated_regression(num_examples=200, correlation=0.5, input_dim=4, seed=0))
    names = [t.name for t in data.tasks]
    keras.utils.set_random_seed(0)
    inputs = model_inputs(data.input_shape)
    h = keras.layers.Dense(8, activation="relu", name="shared.0")(inputs["x"])
    outs = {names[0]: keras.layers.Dense(1, name=task_layer_name(names[0], "out"))(h)}
    head = keras.layers.Dense(1, name=task_layer_name(names[1], "out"))(h)
    # t + sqrt(0 * t^2): a finite output whose gradient is 0 * inf = NaN
    outs[names[1]] = keras.layers.Lambda(lambda t: t + tf.sqrt(0.0 * tf.square(t)),
                                         name=task_layer_name(names[1], "sqrt"))(head)
    model = keras.Model(inputs, outs)
    config = TrainConfig(steps=5, batch_size=8, eval_every=0, log_every=1, progress=False)
    trainer = Trainer(model, data, make_objective("sum", data.tasks), config, grad_method=MGDA(data.tasks))
    with pytest.raises(TrainingError, match=rf"non-finite loss or gradient for task\(s\) \['{names[1]}'\]"):
        trainer.fit()
