"""The method zoo (mtl_tf/methods/zoo.py): the shared property functions of
tests/test_gradient_properties.py applied to each method for what it promises, plus one test per
method against an exact or independent reference (scipy's NNLS for the dual-cone QPs, numpy
formulas written from the papers, the defining equations checked directly). The flag files
(flags/grad_<name>.flags) are run, normally and under --jit_compile, by tests/test_retrace.py."""

import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

import test_gradient_properties as props
from mtl_tf.methods import METHODS as REGISTRY, gram_matrix, make_method
from mtl_tf.methods import zoo
from mtl_tf.tasks import Task

ZOO = ["mean", "constant", "random", "upgrad", "dualproj", "aligned_mtl", "nash_mtl", "fairgrad", "krum", "config",
       "trimmed_mean", "graddrop"]
GRAMIAN = {   # name -> an instance (stateless ones need no task count); nash without its clip: scale-equivariant
    "zoo_mean": zoo.Mean([]), "zoo_upgrad": zoo.UPGrad([]), "zoo_dualproj": zoo.DualProj([]),
    "zoo_aligned_mtl": zoo.AlignedMTL([]), "zoo_nash_mtl": zoo.NashMTL([], max_norm=0.0),
    "zoo_fairgrad": zoo.FairGrad([]), "zoo_fairgrad_a2": zoo.FairGrad([], alpha=2.0), "zoo_krum": zoo.Krum([]),
    "zoo_config": zoo.ConFIG([]),
}


def _gramian_fn(method):
    def fn(g):
        w = tf.cast(method._weights_of(gram_matrix(g)), g.dtype)
        return tf.linalg.matvec(g, w, transpose_a=True), w
    return fn


for _name, _m in GRAMIAN.items():
    props.METHODS[_name] = _gramian_fn(_m)
_TRIMMED = zoo.TrimmedMean([])
props.METHODS["zoo_trimmed_mean"] = lambda g: _TRIMMED._combine(g)
run = props.run
CASES = [(n, g) for n, g in props.INPUTS]


def test_every_zoo_method_is_registered_with_a_flag_file():
    import os
    from conftest import REPO
    for name in ZOO:
        assert name in REGISTRY, name
        assert os.path.exists(os.path.join(REPO, "flags", f"grad_{name}.flags")), name


@pytest.mark.parametrize("dtype", list(props.DTYPES))
@pytest.mark.parametrize("method", sorted(GRAMIAN))
def test_gramian_methods_combination_scale_permutation(method, dtype):
    tol = props.TOL[dtype] * (20 if method in ("zoo_aligned_mtl", "zoo_config") else 1)
    for name, g in CASES:
        if method == "zoo_krum" and (name == "duplicated_rows" or name.startswith("small_integer")) or (
                dtype == "float32" and name in (
                "near_parallel", "rank_deficient", "norms_1e6_apart") and method in ("zoo_aligned_mtl", "zoo_config")):
            continue   # exact ties of Krum's scores (integer rows) / rank decided at float32 round-off
        u, w = run(method, g, props.DTYPES[dtype])
        props.assert_combination(method, g, u, w, tol)
        props.assert_scale_equivariant(method, g, props.DTYPES[dtype], tol)
        if method != "zoo_krum" or (name.startswith("random_k") and len(g) >= 5):   # Krum: scores tie elsewhere
            props.assert_permutation_equivariant(method, g, props.DTYPES[dtype], tol, props.unique_weights(method, g))


def _a(g, reg, norm="trace"):
    m = g @ g.T
    s = np.trace(m) if norm == "trace" else np.linalg.norm(m)
    return (m / s if s > 0 else m) + reg * np.eye(len(g))


def _nnls_projection(u, a):
    """argmin_{v >= u} v^T a v by scipy's NNLS: v = u + z, ||L^T (u + z)||^2 with a = L L^T."""
    lt = np.linalg.cholesky(a).T
    z, _ = scipy.optimize.nnls(lt, -lt @ u, maxiter=1000)
    return u + z


@pytest.mark.parametrize("name,g", CASES, ids=[n for n, _ in CASES])
def test_upgrad_and_dualproj_solve_their_qps_exactly(name, g):
    a = _a(g, 1e-4)
    k = len(g)
    _, w_up = run("zoo_upgrad", g, tf.float64)
    _, w_dp = run("zoo_dualproj", g, tf.float64)
    ref_up = sum(_nnls_projection(np.eye(k)[i] / k, a) for i in range(k))
    ref_dp = _nnls_projection(np.full(k, 1.0 / k), a)
    np.testing.assert_allclose(w_up, ref_up, atol=1e-7 * max(1, np.abs(ref_up).max()))
    np.testing.assert_allclose(w_dp, ref_dp, atol=1e-7 * max(1, np.abs(ref_dp).max()))
    # KKT of min v^T a v s.t. v >= u: a v >= 0 (dual feasibility), complementary slackness
    av = a @ w_dp
    assert np.all(w_dp >= 1.0 / k - 1e-9) and np.all(av >= -1e-9), (w_dp, av)
    np.testing.assert_allclose((w_dp - 1.0 / k) * av, 0, atol=1e-9)


def test_upgrad_does_not_conflict_with_any_task():
    for name, g in CASES:
        u, w = run("zoo_upgrad", g, tf.float64)
        a = _a(g, 1e-4)
        # the projection is in the dual cone of the regularised Gramian: a w >= 0
        assert np.all(a @ w >= -1e-9), name


def _aligned_reference(g):
    m = g @ g.T
    lam, v = np.linalg.eigh(m)
    keep = lam > lam.max() * len(g) * np.finfo(np.float64).eps
    lam, v = lam[keep], v[:, keep]
    b = np.sqrt(lam.min()) * v @ np.diag(1 / np.sqrt(lam)) @ v.T
    return b @ np.full(len(g), 1.0 / len(g))


def test_aligned_mtl_against_the_eigendecomposition_formula():
    for name, g in CASES:
        _, w = run("zoo_aligned_mtl", g, tf.float64)
        np.testing.assert_allclose(w, _aligned_reference(g), rtol=1e-6, atol=1e-9, err_msg=name)
    # orthonormal-ised: aligned update's Gram on the kept subspace is isotropic (B G B = l_min P)
    g = np.random.default_rng(0).normal(size=(3, 7))
    m = g @ g.T
    b = np.linalg.eigh(m)
    bal = (np.sqrt(b[0].min()) * b[1] @ np.diag(b[0] ** -0.5) @ b[1].T)
    np.testing.assert_allclose(bal @ m @ bal, b[0].min() * np.eye(3), atol=1e-9)


@pytest.mark.parametrize("method,alpha,norm,reg", [("zoo_nash_mtl", 1.0, "fro", 1e-6),
                                                  ("zoo_fairgrad", 1.0, "trace", 1e-6),
                                                  ("zoo_fairgrad_a2", 2.0, "trace", 1e-6)])
def test_nash_and_fairgrad_solve_their_fixed_point_exactly(method, alpha, norm, reg):
    for name, g in CASES:
        _, w = run(method, g, tf.float64)
        a = _a(g, reg, norm)
        assert np.all(w > 0), (name, w)
        np.testing.assert_allclose(a @ w, w ** (-1 / alpha), rtol=1e-8, err_msg=f"{method} on {name}")
    # scipy's root finder agrees on a generic case
    g = np.random.default_rng(3).normal(size=(4, 9))
    a = _a(g, reg, norm)
    ref = scipy.optimize.fsolve(lambda x: a @ x - np.abs(x) ** (-1 / alpha), np.ones(4), xtol=1e-13)
    np.testing.assert_allclose(run(method, g, tf.float64)[1], ref, rtol=1e-7)


def test_nash_mtl_clips_the_update_to_max_norm():
    m = zoo.NashMTL(["a", "b"], max_norm=0.01)
    g = tf.constant([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0]], tf.float64)
    u, w = m.combine(g, tf.constant([True, True]))
    assert abs(np.linalg.norm(u) - 0.01) < 1e-9
    np.testing.assert_allclose(u, np.asarray(w) @ g.numpy())


def _krum_reference(g, f, m):
    k = len(g)
    d = np.linalg.norm(g[:, None] - g[None], axis=2)
    n = max(k - f - 2, 0)
    scores = np.array([np.sort(np.delete(d[i], i))[:n].sum() for i in range(k)])
    w = np.zeros(k)
    w[np.argsort(scores, kind="stable")[:min(m, k)]] = 1.0 / min(m, k)
    return w


def test_krum_against_pairwise_distances():
    rng = np.random.default_rng(5)
    for k, f, m in [(5, 0, 1), (7, 2, 3), (12, 3, 2), (20, 5, 4), (3, 0, 1)]:
        g = rng.normal(size=(k, 6))
        g[0] *= 50    # an outlier is never selected
        fn = props.tf.function(_gramian_fn(zoo.Krum([], f, m)))
        _, w = fn(tf.constant(g))
        np.testing.assert_array_equal(np.asarray(w), _krum_reference(g, f, m))
        assert w[0] == 0


def _config_reference(g):
    norms = np.linalg.norm(g, axis=1)
    units = np.where(norms[:, None] > 0, g / np.where(norms > 0, norms, 1)[:, None], 0)
    x = np.linalg.pinv(units) @ np.ones(len(g))
    x = x / np.linalg.norm(x)
    return np.sum(g @ x) * x


def test_config_against_the_pseudo_inverse_formula():
    for name, g in CASES:
        u, _ = run("zoo_config", g, tf.float64)
        if np.linalg.matrix_rank(g) < len(g):
            continue   # pinv cut-offs differ (rows vs Gram); full-rank cases are exact
        np.testing.assert_allclose(u, _config_reference(g), atol=1e-7 * props._norm_scale(g), err_msg=name)
        unit = g / np.linalg.norm(g, axis=1, keepdims=True)
        proj = unit @ u
        np.testing.assert_allclose(proj, proj.mean(), rtol=1e-7, err_msg=name)   # equal unit projections


def test_trimmed_mean_against_numpy():
    rng = np.random.default_rng(1)
    for k, t in [(5, 1), (7, 2), (3, 1), (2, 1), (1, 0)]:
        g = rng.normal(size=(k, 11))
        u, w = zoo.TrimmedMean([], t)._combine(tf.constant(g))
        tt = min(t, (k - 1) // 2)
        np.testing.assert_allclose(u, np.sort(g, axis=0)[tt:k - tt].mean(0), atol=1e-12)
    for name, g in CASES:   # scale-equivariant (a coordinate-wise order statistic)
        props.assert_scale_equivariant("zoo_trimmed_mean", g, tf.float64, 1e-7)


def test_graddrop_keeps_one_sign_per_coordinate():
    m = zoo.GradDrop(["a", "b", "c"], seed=3)
    rng = np.random.default_rng(2)
    g = rng.normal(size=(3, 400))
    u = np.asarray(m.combine(tf.constant(g), tf.constant([True] * 3))[0])
    pos, neg = np.where(g > 0, g, 0).sum(0), np.where(g < 0, g, 0).sum(0)
    assert np.all(np.isclose(u, pos) | np.isclose(u, neg)), "each coordinate keeps the positive or negative part"
    purity = 0.5 * (1 + g.sum(0) / np.abs(g).sum(0))
    chose_pos = np.isclose(u, pos) & ~np.isclose(pos, neg)
    # P(keep positive) = P; 400 coordinates: the empirical rate tracks the mean purity
    assert abs(chose_pos.mean() - purity.mean()) < 0.1
    u2 = np.asarray(m.combine(tf.constant(g), tf.constant([True] * 3))[0])
    assert not np.allclose(u, u2), "a fresh draw each step"
    same = np.abs(g)   # no conflict: the plain sum
    np.testing.assert_allclose(m.combine(tf.constant(same), tf.constant([True] * 3))[0], same.sum(0))
    leak = zoo.GradDrop(["a", "b", "c"], leak=1.0)
    np.testing.assert_allclose(leak.combine(tf.constant(g), tf.constant([True] * 3))[0], g.sum(0))


def test_random_weights_are_softmax_of_fresh_gaussians():
    m = zoo.RandomWeights(["a", "b", "c", "d"], seed=7)
    g = tf.constant(np.random.default_rng(0).normal(size=(4, 5)))
    present = tf.constant([True, False, True, True])
    w1 = np.asarray(m.combine(g, present)[1])
    w2 = np.asarray(m.combine(g, present)[1])
    assert w1[1] == 0 and abs(w1.sum() - 1) < 1e-12 and np.all(w1[[0, 2, 3]] > 0)
    assert not np.allclose(w1, w2)
    z = tf.random.stateless_normal([3], tf.constant([7, 0], tf.int64), dtype=tf.float64)
    np.testing.assert_allclose(w1[[0, 2, 3]], tf.nn.softmax(z).numpy())


def test_mean_and_constant_are_their_combinations_on_present_rows():
    g = np.random.default_rng(0).normal(size=(3, 4))
    present = tf.constant([True, False, True])
    u, w = zoo.Mean(["a", "b", "c"]).combine(tf.constant(g), present)
    np.testing.assert_allclose(u, (g[0] + g[2]) / 2)
    c = zoo.Constant(["a", "b", "c"], ["2", "5", "0.5"])
    u, w = c.combine(tf.constant(g), present)
    np.testing.assert_allclose(u, 2 * g[0] + 0.5 * g[2])
    np.testing.assert_allclose(w, [2, 0, 0.5])
    with pytest.raises(ValueError, match="one weight per task"):
        zoo.Constant(["a", "b"], [1.0])
    with pytest.raises(ValueError, match="no option"):
        make_method("upgrad", ["a"], c=1.0)


def test_absent_nan_rows_never_enter_and_registry_builds_every_method():
    tasks = [Task("a", "regression"), Task("b", "regression"), Task("c", "regression")]
    g = np.random.default_rng(0).normal(size=(3, 6))
    g[1] = np.nan
    for name in ZOO:
        opts = {"weights": [1, 1, 1]} if name == "constant" else {}
        m = make_method(name, tasks, seed=1, **opts)
        u, w = m.combine(tf.constant(g, tf.float32), tf.constant([True, False, True]))
        assert np.all(np.isfinite(u)) and w[1] == 0, name
        u, _ = m.combine(tf.constant(g, tf.float32), tf.constant([True, True, True]))
        assert np.all(np.isnan(u)), f"{name}: a non-finite present row gives a NaN update"


# ---- part 2: methods with per-step state (mtl_tf/methods/zoo2.py) and the zoo's loss weightings ---------------

from mtl_tf import objectives  # noqa: E402
from mtl_tf.methods import zoo2  # noqa: E402

ZOO2 = ["gradvac", "db_mtl", "excess_mtl", "moco", "modo", "sdmgrad"]
ZOO_OBJECTIVES = ["log", "gls", "stch", "famo"]
_PAD = 20   # the property functions run _step on [20, P] rows, the first K present (fresh state, two steps)


def _stateful_fn(method, state_of, effective=lambda w: w):
    """(update, weights) after two steps on the same rows from a fresh state ``state_of(pad, p)``."""
    def fn(g):
        k, p = tf.shape(g)[0], tf.shape(g)[1]
        pad = tf.concat([g, tf.zeros([_PAD - k, p], g.dtype)], axis=0)
        ids = tf.range(k)
        _, _, state = method._step(pad, ids, state_of(g.dtype, p))
        u, w, _ = method._step(pad, ids, state)
        return u, effective(w[:k])
    return fn


_TASKS20 = [f"t{i}" for i in range(_PAD)]
_STATEFUL = {
    "zoo2_gradvac": _stateful_fn(zoo2.GradVac(_TASKS20, seed=3), lambda d, p: [tf.zeros([_PAD, _PAD], tf.float64)]),
    # two steps on the same g: every buffer is (1 - beta^2) g
    "zoo2_db_mtl": _stateful_fn(zoo2.DBMTL(_TASKS20, 1), lambda d, p: [tf.zeros([_PAD, p], d), tf.zeros([_PAD], tf.int64)],
                                effective=lambda w: w * (1 - 0.9 ** 2)),
    "zoo2_excess_mtl": _stateful_fn(zoo2.ExcessMTL(_TASKS20, 1, eps=0.0), lambda d, p: [
        tf.zeros([_PAD, p], d), tf.ones([_PAD], tf.float64), tf.zeros([_PAD], tf.float64), tf.zeros([_PAD], tf.bool)]),
    # two steps on the same g: y = (1 - (1 - beta_1)(1 - beta_2)) g
    "zoo2_moco": _stateful_fn(zoo2.MoCo(_TASKS20, 1), lambda d, p: [
        tf.zeros([_PAD, p], d), tf.zeros([_PAD], tf.int64), tf.ones([_PAD], tf.float64) / _PAD],
        effective=lambda w: w * (1 - 0.5 * (1 - 0.5 / 2 ** 0.5))),
    "zoo2_modo": _stateful_fn(zoo2.MoDo(_TASKS20), lambda d, p: [tf.ones([_PAD], tf.float64) / _PAD]),
    "zoo2_sdmgrad": _stateful_fn(zoo2.SDMGrad(_TASKS20), lambda d, p: [tf.ones([_PAD], tf.float64) / _PAD]),
}
props.METHODS.update(_STATEFUL)
_SCALE_DEPENDENT = ("zoo2_moco", "zoo2_modo")   # their lambda steps depend on G G^T's scale, as in the papers
# a small subset of the shared inputs keeps the suite short: every kind of matrix once
_CASES2 = [(n, g) for n, g in CASES if n in ("conflicting_pair", "near_parallel", "zero_row", "duplicated_rows",
                                           "rank_deficient", "norms_1e6_apart", "single_row", "small_integer_0",
                                           "random_k5", "random_k20")]


def test_every_zoo2_method_and_weighting_is_registered_with_a_flag_file():
    import os
    from conftest import REPO
    for name in ZOO2:
        assert name in REGISTRY, name
        assert os.path.exists(os.path.join(REPO, "flags", f"grad_{name}.flags")), name
    for name in ZOO_OBJECTIVES:
        assert name in objectives.OBJECTIVES, name
        assert os.path.exists(os.path.join(REPO, "flags", f"objective_{name}.flags")), name


@pytest.mark.parametrize("dtype", list(props.DTYPES))
@pytest.mark.parametrize("method", sorted(_STATEFUL))
def test_stateful_methods_combination_scale_permutation(method, dtype):
    if method == "zoo2_excess_mtl" and dtype == "float32":
        pytest.skip("ExcessMTL accumulates g^2 (the official code's state): float32 under/overflows at 1e-20 / 1e20")
    tol = props.TOL[dtype] * 20
    for name, g in _CASES2:
        u, w = run(method, g, props.DTYPES[dtype])
        props.assert_combination(method, g, u, w, tol)
        if method not in _SCALE_DEPENDENT:
            props.assert_scale_equivariant(method, g, props.DTYPES[dtype], tol)
        if method != "zoo2_gradvac":   # GradVac visits the tasks in a random order, as PCGrad
            props.assert_permutation_equivariant(method, g, props.DTYPES[dtype], tol, props.unique_weights(method, g))


def _gradvac_reference(g, phi, order, beta):
    """LibMTL's GradVac loop on the rows (whole-model group, no 1e-8 guards)."""
    k = len(g)
    pc, phi = g.astype(np.float64).copy(), phi.copy()
    for i in range(k):
        for j in order[i]:
            if j == i:
                continue
            ni, nj = np.linalg.norm(pc[i]), np.linalg.norm(g[j])
            rho = pc[i] @ g[j] / (ni * nj) if ni * nj > 0 else 0.0
            if rho < phi[i, j]:
                pc[i] = pc[i] + g[j] * ni * (phi[i, j] * np.sqrt(1 - rho ** 2) - rho * np.sqrt(1 - phi[i, j] ** 2)) / (
                    nj * np.sqrt(1 - phi[i, j] ** 2))
            phi[i, j] = (1 - beta) * phi[i, j] + beta * rho
    return pc.sum(0), phi


def test_gradvac_against_the_reference_loop_over_steps():
    rng = np.random.default_rng(4)
    t, seed, beta = 4, 3, 0.5
    m = zoo2.GradVac([f"t{i}" for i in range(t)], beta=beta, seed=seed)
    phi = np.zeros((t, t))
    g_all = rng.normal(size=(t, 7))
    for call, present in enumerate([[1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]]):
        g = g_all + 0.3 * rng.normal(size=(t, 7))
        ids = np.flatnonzero(present)
        k = len(ids)
        order = np.argsort(tf.random.stateless_uniform([k, k], seed=tf.constant([seed, call], tf.int64)).numpy(), axis=1)
        ref_u, sub = _gradvac_reference(g[ids], phi[np.ix_(ids, ids)], order, beta)
        phi[np.ix_(ids, ids)] = sub
        u, w = m.combine(tf.constant(g), tf.constant(np.asarray(present, bool)))
        np.testing.assert_allclose(u, ref_u, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(u, np.asarray(w) @ g, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m.targets.numpy(), phi, rtol=1e-9, atol=1e-12)   # absent pairs untouched
    assert np.count_nonzero(phi) == t * (t - 1)
    # target 0: GradVac's first step is PCGrad (the same orders)
    g = rng.normal(size=(3, 5))
    pc = props.gm().pcgrad(tf.constant(g), tf.constant([5, 7], tf.int64))[0]
    order = np.argsort(tf.random.stateless_uniform([3, 3], seed=tf.constant([5, 7], tf.int64)).numpy(), axis=1)
    np.testing.assert_allclose(_gradvac_reference(g, np.zeros((3, 3)), order, beta)[0], pc, rtol=1e-6, atol=1e-9)


def test_db_mtl_against_the_reference_buffers():
    rng = np.random.default_rng(6)
    t, p, beta, sigma = 3, 5, 0.9, 0.5
    m = zoo2.DBMTL(["a", "b", "c"], p, beta=beta, beta_sigma=sigma, dtype=tf.float64)
    buf, steps = np.zeros((t, p)), np.zeros(t)
    for present in ([1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]):
        g = rng.normal(size=(t, p)) * np.array([[1.0], [10.0], [0.1]])
        on = np.asarray(present, bool)
        steps[on] += 1
        buf[on] = g[on] + (beta / steps[on, None] ** sigma) * (buf[on] - g[on])
        norms = np.linalg.norm(buf[on], axis=1)
        ref = (norms.max() / norms) @ buf[on]
        u, w = m.combine(tf.constant(g), tf.constant(on))
        np.testing.assert_allclose(u, ref, rtol=1e-10)
        np.testing.assert_allclose(m.buffers.numpy(), buf, rtol=1e-12)
        assert np.all(np.asarray(w)[~on] == 0)


def test_excess_mtl_against_the_reference_weights():
    rng = np.random.default_rng(7)
    t, p, step, eps = 3, 6, 0.5, 1e-7
    m = zoo2.ExcessMTL(["a", "b", "c"], p, robust_step_size=step, dtype=tf.float64)
    sums, lw, first, r0 = np.zeros((t, p)), np.ones(t), True, None
    for _ in range(4):   # joint mode: LibMTL's loop
        g = rng.normal(size=(t, p)) * np.array([[1.0], [3.0], [0.2]])
        sums += g ** 2
        r = np.array([g[i] * (1 / np.sqrt(sums[i] + eps)) @ g[i] for i in range(t)])
        if first:
            r0, first = r, False
        else:
            lw = lw * np.exp(r / r0 * step)
            lw = lw / lw.sum() * t
        u, w = m.combine(tf.constant(g), tf.constant([True] * t))
        np.testing.assert_allclose(w, lw, rtol=1e-10)
        np.testing.assert_allclose(u, lw @ g, rtol=1e-10)


def _grad(objective, losses, present):
    x = tf.Variable(np.asarray(losses, np.float32))
    with tf.GradientTape() as tape:
        value = objective(x, tf.constant(present))
    return float(value), tape.gradient(value, x).numpy()


TASKS3 = [Task("a", "regression"), Task("b", "regression"), Task("c", "regression")]


def test_log_and_gls_objectives_against_their_formulas():
    losses, present = [0.5, 2.0, 40.0], [True, True, False]
    value, grad = _grad(objectives.make_objective("log", TASKS3), losses, present)
    np.testing.assert_allclose(value, np.log(0.5 + 1e-8) + np.log(2.0 + 1e-8), atol=1e-6)
    np.testing.assert_allclose(grad, [2.0, 0.5, 0.0], rtol=1e-6)
    gls = objectives.make_objective("gls", TASKS3)
    value, grad = _grad(gls, losses, present)
    np.testing.assert_allclose(value, (0.5 * 2.0) ** 0.5, rtol=1e-6)
    np.testing.assert_allclose(grad, [1.0 / (2 * 0.5), 1.0 / (2 * 2.0), 0.0], rtol=1e-6)
    np.testing.assert_allclose(gls.task_weights(), grad, rtol=1e-6)
    many = np.random.default_rng(0).uniform(1e-3, 1e-2, size=20)   # the product underflows float32 at T = 20
    gls20 = objectives.make_objective("gls", [Task(f"t{i}", "regression") for i in range(20)])
    value, grad = _grad(gls20, many, [True] * 20)
    ref = np.exp(np.mean(np.log(many)))
    np.testing.assert_allclose(value, ref, rtol=1e-5)
    np.testing.assert_allclose(grad, ref / (20 * many), rtol=1e-4)


def test_stch_warms_up_records_the_nadir_and_smooths_the_max():
    stch = objectives.make_objective("stch", TASKS3, stch_mu=0.5, stch_warmup_epochs=1, stch_epoch_steps=2)
    seq = [([1.0, 2.0, 3.0], [True, True, True]), ([2.0, 4.0, 5.0], [True, True, True]),   # epoch 0: warm-up
           ([3.0, 1.0, 7.0], [True, False, True]), ([5.0, 3.0, 9.0], [True, True, True])]   # epoch 1: nadir
    for losses, present in seq:
        value, grad = _grad(stch, losses, present)
        on = np.asarray(present)
        np.testing.assert_allclose(value, np.sum(np.log(np.asarray(losses)[on] + 1e-20)), rtol=1e-6)
    nadir = np.array([4.0, 3.0, 8.0])
    np.testing.assert_allclose(stch.nadir(), nadir, rtol=1e-6)
    for losses, present in ([[2.0, 6.0, 4.0], [True, True, True]], [[2.0, 6.0, 4.0], [True, False, True]]):
        on = np.asarray(present)
        x, z, k = np.asarray(losses)[on], nadir[on], on.sum()
        l = np.log(x / z + 1e-20) / 0.5
        soft = np.exp(l - l.max()) / np.exp(l - l.max()).sum()
        value, grad = _grad(stch, losses, present)
        np.testing.assert_allclose(value, k * 0.5 * (l.max() + np.log(np.exp(l - l.max()).sum())), rtol=1e-5)
        np.testing.assert_allclose(grad[on], k * soft / x, rtol=1e-5)
        assert np.all(grad[~on] == 0)


def test_famo_against_the_reference_update():
    """LibMTL's FAMO (softmax logits, torch Adam with weight decay), its 'after' losses being the next step's."""
    lr, gamma = 0.1, 0.01
    famo = objectives.make_objective("famo", TASKS3, famo_w_lr=lr, famo_w_gamma=gamma)
    rng = np.random.default_rng(8)
    xi, m, v, n, prev = np.zeros(3), np.zeros(3), np.zeros(3), 0, None
    for _ in range(4):
        losses = rng.uniform(0.1, 3.0, size=3)
        if prev is not None:
            delta = np.log(prev + 1e-8) - np.log(losses + 1e-8)
            z = np.exp(xi) / np.exp(xi).sum()
            d = (np.diag(z) - np.outer(z, z)) @ delta + gamma * xi
            n += 1
            m, v = 0.9 * m + 0.1 * d, 0.999 * v + 0.001 * d * d
            xi = xi - lr * (m / (1 - 0.9 ** n)) / (np.sqrt(v / (1 - 0.999 ** n)) + 1e-8)
        z = np.exp(xi) / np.exp(xi).sum()
        dd = losses + 1e-8
        c = (z / dd).sum()
        value, grad = _grad(famo, losses, [True] * 3)
        np.testing.assert_allclose(famo.logits.numpy(), xi, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(value, (np.log(dd) * z / c).sum(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grad, z / (c * dd), rtol=1e-5)
        prev = losses
    # an absent task keeps its logit and gets no weight
    before = famo.logits.numpy().copy()
    _, grad = _grad(famo, [1.0, 2.0, 3.0], [True, False, True])
    assert grad[1] == 0 and famo.logits.numpy()[1] == before[1] and abs(grad.sum() - 1) < 1e-5


def _projection_loop(y):
    """LibMTL MoDo's _projection2simplex (a loop over the sorted values)."""
    m, srt = len(y), np.sort(y)[::-1]
    tmpsum, tmax_f = 0.0, (np.sum(y) - 1.0) / m
    for i in range(m - 1):
        tmpsum += srt[i]
        tmax = (tmpsum - 1) / (i + 1.0)
        if tmax > srt[i + 1]:
            tmax_f = tmax
            break
    return np.maximum(y - tmax_f, 0)


@pytest.mark.parametrize("lambda_update", ["projection", "softmax"])
def test_moco_against_the_reference_loop(lambda_update):
    rng = np.random.default_rng(9)
    t, p = 3, 4
    beta, bs, gamma, gs, rho = 0.5, 0.5, 0.1, 0.5, 0.05
    m = zoo2.MoCo(["a", "b", "c"], p, beta, bs, gamma, gs, rho, lambda_update, dtype=tf.float64)
    y, lam = np.zeros((t, p)), np.ones(t) / t
    for step in range(1, 5):
        g = rng.normal(size=(t, p)) * 2
        y = y - beta / step ** bs * (y - g)
        v = lam - gamma / step ** gs * (y @ y.T + rho * np.eye(t)) @ lam
        lam = _projection_loop(v) if lambda_update == "projection" else np.exp(v) / np.exp(v).sum()
        u, w = m.combine(tf.constant(g), tf.constant([True] * t))
        np.testing.assert_allclose(w, lam, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(u, y.T @ lam, rtol=1e-10, atol=1e-14)


def test_modo_and_sdmgrad_against_the_reference_loops():
    rng = np.random.default_rng(10)
    t, p = 4, 6
    modo, sdm = zoo2.MoDo(["a", "b", "c", "d"], gamma=0.05, rho=0.1), zoo2.SDMGrad(["a", "b", "c", "d"], 0.3, 20)
    lam_modo, w_sdm = np.ones(t) / t, np.ones(t) / t
    for _ in range(3):
        g = rng.normal(size=(t, p))
        lam_modo = _projection_loop(lam_modo - 0.05 * (g @ (g.T @ lam_modo) + 0.1 * lam_modo))
        u, w = modo.combine(tf.constant(g), tf.constant([True] * t))
        np.testing.assert_allclose(w, lam_modo, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(u, g.T @ lam_modo, rtol=1e-10, atol=1e-14)
        # SDMGrad (LibMTL): GG / mean(sqrt(diag))^2, torch SGD(lr=5, momentum=0.5) + projection, niter times
        gg = g @ g.T
        gg = gg / np.mean(np.sqrt(np.maximum(np.diag(gg), 0))) ** 2
        gmean, buf = gg.mean(1), None
        for _ in range(20):
            grad = gg @ w_sdm + 0.3 * gmean
            buf = grad if buf is None else 0.5 * buf + grad
            w_sdm = _projection_loop(w_sdm - 5 * buf)
        u, w = sdm.combine(tf.constant(g), tf.constant([True] * t))
        np.testing.assert_allclose(u, (g.T @ w_sdm + 0.3 * g.mean(0)) / 1.3, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sdm.w.numpy(), w_sdm, rtol=1e-9, atol=1e-12)
    # task-sampled: the absent task keeps its lambda, the present ones keep their mass
    before = modo.lambd.numpy().copy()
    modo.combine(tf.constant(rng.normal(size=(t, p))), tf.constant([True, False, True, True]))
    after = modo.lambd.numpy()
    assert after[1] == before[1] and abs(after.sum() - 1) < 1e-12


def test_stateful_methods_ignore_absent_nan_rows_and_keep_their_state_on_a_nan_step():
    g = np.random.default_rng(0).normal(size=(3, 6))
    g[1] = np.nan
    tasks = ["a", "b", "c"]
    for m in (zoo2.GradVac(tasks), zoo2.DBMTL(tasks, 6), zoo2.ExcessMTL(tasks, 6), zoo2.MoCo(tasks, 6), zoo2.MoDo(tasks),
              zoo2.SDMGrad(tasks)):
        u, w = m.combine(tf.constant(g, tf.float32), tf.constant([True, False, True]))
        assert np.all(np.isfinite(u)) and w[1] == 0, type(m).__name__
        state = [v.numpy().copy() for v in m._state]
        u, _ = m.combine(tf.constant(g, tf.float32), tf.constant([True, True, True]))
        assert np.all(np.isnan(u)), f"{type(m).__name__}: a non-finite present row gives a NaN update"
        for before, v in zip(state, m._state):
            np.testing.assert_array_equal(before, v.numpy(), err_msg=f"{type(m).__name__}: a refused step changed its state")


def test_zoo2_state_and_weighting_state_round_trip_a_checkpoint(tmp_path):
    g = tf.constant(np.random.default_rng(1).normal(size=(3, 4)))
    every = tf.constant([True] * 3)
    made = {"moco": lambda: zoo2.MoCo(["a", "b", "c"], 4, dtype=tf.float64), "gradvac": lambda: zoo2.GradVac(["a", "b", "c"]),
            "famo": lambda: objectives.make_objective("famo", TASKS3)}
    for name, make in made.items():
        first = make()
        for _ in range(2):
            first.combine(g, every) if name != "famo" else first(tf.constant([1.0, 2.0, 0.5]) * (2 + _), every)
        path = tf.train.Checkpoint(m=first).save(str(tmp_path / name))
        second = make()
        tf.train.Checkpoint(m=second).restore(path).assert_existing_objects_matched()
        for a, b in zip(first.variables, second.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}: {a.name}")
