"""Gradient methods: property tests (graded) and the framework glue (absent tasks, MGDA-UB, CLI errors)."""

import itertools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded
from mtl_tf.methods import CAGrad, IMTL, MGDA, PCGrad, shared_representation
from mtl_tf.training.step import task_jacobian
from mtl_tf.models import model_inputs, split_variables, task_layer_name
from mtl_tf.tasks import Task
from conftest import REPO, describe


def gm():
    return impl.module("gradients")


# Every method as f(grads) -> (update, weights), and the combination identical gradients must give:
# "sum" (k * g) or "mean" (g).
METHODS = {
    "sum_gradients": (lambda g: gm().sum_gradients(g), "sum"),
    "pcgrad": (lambda g: gm().pcgrad(g, tf.constant([1, 2], tf.int64)), "sum"),
    "mgda": (lambda g: gm().mgda(g), "mean"),
    "cagrad": (lambda g: gm().cagrad(g, c=0.5), "mean"),
    "imtl_g": (lambda g: gm().imtl_g(g), "mean"),
}
ORDER_INVARIANT = ["sum_gradients", "mgda", "cagrad", "imtl_g"]

# The graded tests are converted (``@graded``): ``compute_*`` runs with the submission and returns plain
# data; the check half runs in the grader's trusted process on what was sent (mtl_tf/grading/checked.py).


def run(name, grads):
    """(update, weights) of method ``name`` on ``grads`` (in the compute halves: the submission's values)."""
    update, weights = METHODS[name][0](tf.constant(np.asarray(grads, np.float32)))
    return update, weights


def sent(got, p=None, k=None, name="the method"):
    """The (update, weights) a compute half sent, checked: float arrays of shapes (p,) and (k,)."""
    update = checks.array(got["update"], shape=None if p is None else (p,), kind="f", name=f"{name}'s update")
    weights = checks.array(got["weights"], shape=None if k is None else (k,), kind="f", name=f"{name}'s weights")
    return update.astype(np.float64), weights.astype(np.float64)


def random_grads(k, p=7, seed=0):
    g = np.random.default_rng(seed).normal(size=(k, p)).astype(np.float32)
    g[0] *= 3.0  # unequal norms
    return g


IDENTICAL = np.array([1.0, -2.0, 0.5, 3.0], np.float32)


def compute_identical(name, k):
    update, weights = run(name, np.tile(IDENTICAL, (k, 1)))
    return {"update": update, "weights": weights}


@graded(points=2, compute=compute_identical,
        cases={f"{k}-{name}": dict(name=name, k=k) for k in (1, 3) for name in sorted(METHODS)})
def test_identical_gradients_give_the_plain_combination(got, name, k):
    """When every task has the same gradient there is no conflict: the method is the plain sum or mean."""
    g = IDENTICAL
    kind = METHODS[name][1]
    expected = g * (k if kind == "sum" else 1)
    weights = checks.array(got["weights"], kind="f", name=f"{name}'s weights")
    assert weights.shape == (k,), f"{name} must return one weight per task row: expected ({k},), got {describe(weights)}"
    update, _ = sent(got, p=len(g), k=k, name=name)
    checks.close(update, expected, rtol=1e-4, atol=1e-5, name=f"{name}'s update", msg=(
        f"{name} with {k} identical gradient(s) {g}: expected the plain {kind} {expected}, got {describe(update)}"))


def _conflict_grads():
    g = random_grads(3)
    g[1] = -0.7 * g[0] + 0.1 * g[1]  # a conflict
    return g


def compute_weighted_combination(name):
    update, weights = run(name, _conflict_grads())
    return {"update": update, "weights": weights}


@graded(points=2, compute=compute_weighted_combination, cases={name: dict(name=name) for name in sorted(METHODS)})
def test_update_is_the_weighted_combination_it_reports(got, name):
    """update == sum_k weights[k] * grads[k], so the logged weights are the truth."""
    g = _conflict_grads().astype(np.float64)
    update = checks.array(got["update"], kind="f", name=f"{name}'s update")
    assert update.shape == (g.shape[1],), f"{name}: expected update shape ({g.shape[1]},), got {describe(update)}"
    update, weights = sent(got, p=g.shape[1], k=len(g), name=name)
    checks.close(update, weights @ g, rtol=1e-4, atol=1e-4, name=f"{name}'s update", msg=(
        f"{name}: update {update} is not weights @ grads = {weights @ g} (weights {weights})"))


PERM = [2, 0, 3, 1]


def compute_order(name):
    g = random_grads(4, seed=3)
    u1, w1 = run(name, g)
    u2, w2 = run(name, g[PERM])
    return {"u1": u1, "w1": w1, "u2": u2, "w2": w2}


@graded(points=2, compute=compute_order, cases={name: dict(name=name) for name in ORDER_INVARIANT})
def test_invariant_to_task_order(got, name):
    """Permuting the tasks permutes the weights and leaves the update unchanged."""
    u1, w1 = sent({"update": got["u1"], "weights": got["w1"]}, p=7, k=4, name=name)
    u2, w2 = sent({"update": got["u2"], "weights": got["w2"]}, p=7, k=4, name=name)
    checks.close(u2, u1, rtol=2e-3, atol=2e-4, name=f"{name}'s update on the reordered tasks",
                 msg=f"{name}: the update changed when the tasks were reordered: {u1} vs {u2}")
    checks.close(w2, w1[PERM], rtol=2e-2, atol=2e-3, name=f"{name}'s weights on the reordered tasks",
                 msg=f"{name}: weights should follow the tasks: {w1[PERM]} vs {w2}")


def compute_sum_hand():
    update, weights = run("sum_gradients", [[1.0, 2.0], [3.0, -1.0]])
    return {"update": update, "weights": weights}


@graded(points=1, compute=compute_sum_hand)
def test_sum_gradients_hand_computed(got):
    update, weights = sent(got, p=2, k=2, name="sum_gradients")
    checks.close(update, [4.0, 1.0], rtol=1e-7, name="sum_gradients' update",
                 msg=f"expected [1+3, 2-1] = [4, 1], got {describe(update)}")
    checks.close(weights, [1.0, 1.0], rtol=1e-7, name="sum_gradients' weights",
                 msg=f"expected weights [1, 1], got {describe(weights)}")


# ---- PCGrad -------------------------------------------------------------------------------------------

def _pc_reference(g, i, order):
    v = g[i].copy()
    for j in order:
        d = v @ g[j]
        if d < 0:
            v = v - d / (g[j] @ g[j] + 1e-12) * g[j]
    return v


PC_HAND = np.array([[1.0, 0.0], [-1.0, 1.0]], np.float32)


def _pc_random(seed):
    return np.random.default_rng(seed).normal(size=(2, 6)).astype(np.float32)


def compute_pcgrad_two():
    update, weights = run("pcgrad", PC_HAND)
    return {"update": update, "weights": weights, "random": [run("pcgrad", _pc_random(s))[0] for s in range(5)]}


@graded(points=2, compute=compute_pcgrad_two)
def test_pcgrad_two_tasks_hand_computed_and_no_conflict_left(got):
    """T = 2, g1 = [1, 0], g2 = [-1, 1]: g1^PC = [0.5, 0.5], g2^PC = [0, 1]; update [0.5, 1.5]."""
    update, weights = sent(got, p=2, k=2, name="pcgrad")
    checks.close(update, [0.5, 1.5], rtol=0, atol=1e-5, name="pcgrad's update", msg=(
        "g1 . g2 = -1 < 0, so g1 -> g1 - (-1/2) g2 = [0.5, 0.5] and g2 -> g2 - (-1/1) g1 = [0, 1]; "
        f"their sum is [0.5, 1.5]; got {describe(update)}"))
    checks.close(weights, [2.0, 1.5], rtol=0, atol=1e-5, name="pcgrad's weights", msg=(
        f"update = 2 g1 + 1.5 g2, so weights should be [2, 1.5]; got {describe(weights)}"))
    assert type(got["random"]) is list and len(got["random"]) == 5, "expected one update per random case"
    for seed, value in enumerate(got["random"]):
        g = _pc_random(seed)
        pc = [_pc_reference(g, 0, [1]), _pc_reference(g, 1, [0])]
        checks.close(checks.array(value, shape=(6,), kind="f", name="pcgrad's update"), pc[0] + pc[1], rtol=1e-4,
                     atol=1e-5, name=f"pcgrad's update on random gradients (seed {seed})",
                     msg="each g_i is projected on the normal plane of the other g_j when they conflict")
        assert pc[0] @ g[1] >= -1e-5 and pc[1] @ g[0] >= -1e-5


PC_THREE = np.array([[1.0, 0.0, 0.0], [-0.8, 1.0, 0.0], [-0.5, -0.9, 1.0]], np.float32)


def compute_pcgrad_seeds():
    out = []
    for s in range(12):
        seed = tf.constant([7, s], tf.int64)
        out.append([gm().pcgrad(tf.constant(PC_THREE), seed)[0], gm().pcgrad(tf.constant(PC_THREE), seed)[0]])
    return {"updates": out}


@graded(points=2, compute=compute_pcgrad_seeds)
def test_pcgrad_projects_on_original_gradients_in_a_seeded_random_order(got):
    """T = 3 with conflicts: the update is one of the 2^3 results of projecting each g_i on the ORIGINAL
    other gradients in some order; the same seed gives the same result, other seeds reach other orders."""
    g = PC_THREE
    candidates = []
    for orders in itertools.product(*[list(itertools.permutations([j for j in range(3) if j != i]))
                                      for i in range(3)]):
        candidates.append(sum(_pc_reference(g, i, order) for i, order in enumerate(orders)))
    assert type(got["updates"]) is list and len(got["updates"]) == 12, "expected 12 seeded runs"
    seen = set()
    for pair in got["updates"]:
        u, again = (checks.array(v, shape=(3,), kind="f", name="pcgrad's update") for v in pair)
        checks.equal(u, again, name="pcgrad's update, run twice with one seed",
                     msg="pcgrad must be deterministic for a given seed")
        dist = [np.abs(u - c).max() for c in candidates]
        assert min(dist) < 1e-4, (
            f"update {u} is not the sum of sequential projections of each g_i on the original g_j (in any "
            f"order); closest candidate {candidates[int(np.argmin(dist))]}. Project on the ORIGINAL g_j, "
            "not on its projected version")
        seen.add(int(np.argmin(dist)))
    assert len(seen) > 1, "12 different seeds all gave the same task order: draw a fresh random order per seed"


# ---- MGDA ---------------------------------------------------------------------------------------------

def _grid_min_norm(g, n=200):
    best = np.inf
    k = len(g)
    for a in itertools.product(np.linspace(0, 1, n + 1), repeat=k - 1):
        if sum(a) <= 1 + 1e-9:
            w = np.array(list(a) + [1 - sum(a)])
            best = min(best, np.linalg.norm(w @ g))
    return best


def compute_mgda_hull(k):
    runs = [run("mgda", random_grads(k, p=5, seed=seed)) for seed in range(3)]
    return {"runs": [{"update": u, "weights": w} for u, w in runs]}


@graded(points=3, compute=compute_mgda_hull, cases={"2": dict(k=2), "3": dict(k=3)})
def test_mgda_is_the_min_norm_point_of_the_hull(got, k):
    """Weights on the simplex; ||update|| <= every ||g_i|| and <= ||mean||; equals a brute-force grid minimum."""
    assert type(got["runs"]) is list and len(got["runs"]) == 3, "expected three runs"
    for seed, one in enumerate(got["runs"]):
        g = random_grads(k, p=5, seed=seed)
        update, weights = sent(one, p=5, k=k, name="mgda")
        assert np.all(weights >= -1e-6) and abs(weights.sum() - 1) < 1e-4, (
            f"MGDA weights must lie on the simplex (>= 0, sum 1); got {describe(weights)}")
        norm = np.linalg.norm(update)
        assert norm <= np.linalg.norm(g, axis=1).min() + 1e-5, (
            f"||update|| = {norm:.5f} exceeds the smallest task gradient norm {np.linalg.norm(g, axis=1).min():.5f}")
        assert norm <= np.linalg.norm(g.mean(0)) + 1e-5, f"||update|| = {norm:.5f} exceeds ||mean gradient||"
        grid = _grid_min_norm(g, 400 if k == 2 else 120)
        assert norm <= grid + 1e-3 and norm >= grid - 2e-2, (
            f"k={k}, seed {seed}: min-norm found {norm:.5f}, brute-force grid minimum {grid:.5f}")


def _kkt_cases():
    """[(G rows, scale)]: small-integer matrices, the first five also at scales 1e-7 and 1e20."""
    rng = np.random.default_rng(30)
    cases = [np.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])]
    cases += [rng.integers(-3, 4, size=(int(rng.integers(3, 7)), int(rng.integers(2, 5)))).astype(np.float64)
              for _ in range(40)]
    return [(g, scale) for i, g in enumerate(cases) for scale in ((1.0, 1e-7, 1e20) if i < 5 else (1.0,))]


def compute_mgda_kkt():
    return {"weights": [gm().mgda_weights(tf.constant((scale * g) @ (scale * g).T, tf.float64))
                        for g, scale in _kkt_cases()]}


@graded(points=2, compute=compute_mgda_kkt)
def test_mgda_weights_reach_the_exact_min_norm_point(got):
    """KKT, the certificate of the min-norm point d: g_i.d >= ||d||^2 for every task, with equality
    for every task of weight > 0 -- on small-integer matrices (where stopping on a small step leaves
    Frank-Wolfe short of the optimum) and at gradient scales from 1e-7 to 1e20."""
    cases = _kkt_cases()
    assert type(got["weights"]) is list and len(got["weights"]) == len(cases), "expected one weight vector per case"
    for value, (g, scale) in zip(got["weights"], cases):
        w = checks.array(value, shape=(len(g),), kind="f", name="mgda_weights").astype(np.float64)
        assert np.all(w >= -1e-9) and abs(w.sum() - 1) < 1e-6, (
            f"weights must lie on the simplex, got {describe(w)} for G = {g.tolist()} (scale {scale:g})")
        d = w @ g
        gd, dd = g @ d, d @ d
        worst = int(np.argmin(gd))
        assert gd[worst] >= dd - 1e-6 * (g * g).sum(1).max(), (
            f"G = {g.tolist()} (scale {scale:g}): weights {np.round(w, 4)} give ||d||^2 = {dd:.4f}, but task "
            f"{worst} has g.d = {gd[worst]:.4f} < ||d||^2, so moving towards g_{worst} shortens d: not the "
            "min-norm point. Stop on the duality gap ||d||^2 - min_i g_i.d, not on a small step")
        used = w > 1e-6
        checks.close(gd[used], np.full(int(used.sum()), dd), rtol=0, atol=1e-6 * (g * g).sum(1).max(),
                     name="g_i.d of the tasks with weight > 0", msg=(
                         f"G = {g.tolist()}: every task with weight > 0 must have g.d = ||d||^2 = {dd:.4f} (KKT); "
                         f"weights {np.round(w, 4)}"))


CAGRAD_TWO = np.array([[-2.0, -1.0], [1.0, 0.0]])


def _cagrad_random():
    rng = np.random.default_rng(4)
    return [rng.normal(size=(3, 5)) for _ in range(10)]


def compute_cagrad_c_ge_1():
    return {"two": gm().cagrad(tf.constant(CAGRAD_TWO, tf.float64), c=2.0)[0],
            "random": [gm().cagrad(tf.constant(g, tf.float64), c=1.5)[0] for g in _cagrad_random()]}


@graded(points=2, compute=compute_cagrad_c_ge_1)
def test_cagrad_at_c_at_least_one_conflicts_with_no_task(got):
    """For c >= 1 the ball around g0 contains d = 0, so the best worst-case g_i.d is >= 0: the
    update must not conflict with any task (c = 2, G = [[-2, -1], [1, 0]]: G @ update = [1/6, 1/6])."""
    g = CAGRAD_TWO
    update = checks.array(got["two"], shape=(2,), kind="f", name="cagrad's update").astype(np.float64)
    checks.close(g @ update, [1 / 6, 1 / 6], rtol=0, atol=1e-5, name="G @ update", msg=(
        f"CAGrad at c = 2 on {g.tolist()}: expected G @ update = [1/6, 1/6], got {g @ update}: solve the dual "
        "min_w g_w.g0 + c ||g0|| ||g_w|| exactly, not with a fixed number of descent steps"))
    assert type(got["random"]) is list and len(got["random"]) == 10, "expected ten updates"
    for value, g in zip(got["random"], _cagrad_random()):
        update = checks.array(value, shape=(5,), kind="f", name="cagrad's update").astype(np.float64)
        assert np.all(g @ update >= -1e-6 * (g * g).sum(1).max()), (
            f"CAGrad at c = 1.5 conflicts with a task: G @ update = {g @ update} for G = {np.round(g, 3).tolist()}")


def compute_mgda_two():
    update, weights = run("mgda", [[1.0, 0.0], [0.0, 2.0]])
    return {"update": update, "weights": weights,
            "gamma": gm().min_norm_two(tf.constant(1.0), tf.constant(2.0), tf.constant(1.0)),
            "clipped": gm().min_norm_two(tf.constant(1.0), tf.constant(2.0), tf.constant(9.0))}


@graded(points=2, compute=compute_mgda_two)
def test_mgda_two_tasks_closed_form(got):
    """g1 = [1, 0], g2 = [0, 2]: gamma = (4 - 0) / 5 = 0.8 on g1; update [0.8, 0.4]."""
    update, weights = sent(got, p=2, k=2, name="mgda")
    checks.close(weights, [0.8, 0.2], rtol=0, atol=1e-6, name="mgda's weights", msg=(
        f"gamma = (g2.g2 - g1.g2) / ||g1 - g2||^2 = 4/5; expected weights [0.8, 0.2], got {describe(weights)}"))
    checks.close(update, [0.8, 0.4], rtol=0, atol=1e-6, name="mgda's update", msg="update = 0.8 g1 + 0.2 g2")
    checks.close(checks.array(got["gamma"], shape=(), kind="f", name="min_norm_two"), 0.5, rtol=1e-6,
                 name="min_norm_two(1, 2, 1)", msg="g1 = g2 (||g1 - g2|| = 0) should give gamma = 0.5")
    checks.close(checks.array(got["clipped"], shape=(), kind="f", name="min_norm_two"), 1.0, rtol=1e-6,
                 name="min_norm_two(1, 2, 9)", msg="gamma = (9-2)/(1-4+9) > 1 must clip to 1")


# ---- CAGrad, IMTL-G -------------------------------------------------------------------------------------

CAGRAD_GRID = np.array([[2.0, 0.0, 0.0], [-1.0, 1.0, 0.5]], np.float32)


def compute_cagrad_grid():
    return {"mean": gm().cagrad(tf.constant(CAGRAD_GRID), c=0.0)[0], "update": run("cagrad", CAGRAD_GRID)[0]}


@graded(points=2, compute=compute_cagrad_grid)
def test_cagrad_matches_a_grid_search_and_reduces_to_the_mean_at_c0(got):
    g = CAGRAD_GRID.astype(np.float64)
    checks.close(checks.array(got["mean"], shape=(3,), kind="f", name="cagrad(c=0)"), g.mean(0), rtol=0, atol=1e-5,
                 name="cagrad(c=0)", msg="c = 0 must give the mean gradient")
    c = 0.5
    g0 = g.mean(0)
    best, best_w = np.inf, None
    for a in np.linspace(0, 1, 20001):
        w = np.array([a, 1 - a])
        gw = w @ g
        f = gw @ g0 + c * np.linalg.norm(g0) * np.linalg.norm(gw)
        if f < best:
            best, best_w = f, w
    gw = best_w @ g
    expected = (g0 + c * np.linalg.norm(g0) / np.linalg.norm(gw) * gw) / (1 + c)
    update = checks.array(got["update"], shape=(3,), kind="f", name="cagrad(c=0.5)")
    checks.close(update, expected, rtol=0, atol=2e-3, name="cagrad(c=0.5)", msg=(
        f"CAGrad (c=0.5) expected {expected} from a grid search over w, got {describe(update)}"))


def compute_imtl():
    return {"runs": [dict(zip(("update", "weights"), run("imtl_g", random_grads(k, p=6, seed=k)))) for k in (2, 3, 4)]}


@graded(points=2, compute=compute_imtl)
def test_imtl_g_projections_on_unit_gradients_are_equal(got):
    assert type(got["runs"]) is list and len(got["runs"]) == 3, "expected three runs"
    for k, one in zip((2, 3, 4), got["runs"]):
        g = random_grads(k, p=6, seed=k).astype(np.float64)
        update, weights = sent(one, p=6, k=k, name="imtl_g")
        proj = (g / np.linalg.norm(g, axis=1, keepdims=True)) @ update
        checks.close(proj, np.full(k, proj[0]), rtol=1e-3, atol=1e-4, name="projections on the unit gradients", msg=(
            f"IMTL-G's update must have the same projection on every unit task gradient; got {proj}"))
        assert abs(weights.sum() - 1) < 1e-4, f"IMTL-G weights must sum to 1, got {describe(weights)}"


# ---- flatten / unflatten (graded, optimization) -----------------------------------------------------------

def _flatten_inputs():
    variables = [tf.Variable(tf.zeros([2, 3])), tf.Variable(tf.zeros([4])), tf.Variable(tf.zeros([1, 1]))]
    grads = [tf.reshape(tf.range(6, dtype=tf.float32), [2, 3]), None, tf.constant([[7.0]])]
    return variables, grads


def compute_flatten():
    opt = impl.module("optimization")
    variables, grads = _flatten_inputs()
    flat = opt.flatten_gradients(grads, variables)
    back = opt.unflatten_gradients(tf.constant(np.asarray(flat)), variables)
    return {"flat": flat, "back_shapes": [list(b.shape) for b in back], "back0": back[0]}


@graded(points=1, compute=compute_flatten)
def test_flatten_and_unflatten_gradients_round_trip(got):
    flat = checks.array(got["flat"], kind="f", name="flatten_gradients")
    checks.close(flat, [0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 7], rtol=1e-7, name="flatten_gradients", msg=(
        f"expected the 6 entries of the first gradient, 4 zeros for the None gradient, then 7; got {describe(flat)}"))
    shapes = got["back_shapes"]
    assert shapes == [[2, 3], [4], [1, 1]], f"unflatten must give the variables' shapes, got {shapes}"
    checks.close(got["back0"], np.arange(6, dtype=np.float64).reshape(2, 3), rtol=1e-7,
                 name="unflatten_gradients(...)[0]", msg="the first variable's gradient must come back as it was")


# ---- framework: absent tasks, weights, representation, CLI ----------------------------------------------

@pytest.mark.parametrize("method", [PCGrad, MGDA, CAGrad, IMTL])
def test_absent_tasks_change_nothing(method):
    """Absent tasks' rows (whatever they hold) never reach the method; their weight is 0."""
    tasks = [Task(n, "regression") for n in "abcd"]
    g = random_grads(4, seed=5)
    present = tf.constant([True, False, True, False])
    garbage = g.copy()
    garbage[[1, 3]] = [1e6, -3.0, 0, 0, 0, 0, 9.0]
    u_all, w_all = method(tasks).combine(tf.constant(garbage), present)
    u_sub, w_sub = method(tasks[:2]).combine(tf.constant(g[[0, 2]]), tf.constant([True, True]))
    np.testing.assert_allclose(np.asarray(u_all), np.asarray(u_sub), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(w_all)[[0, 2]], np.asarray(w_sub), rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(w_all)[[1, 3]] == 0)


def test_per_task_gradients_match_tape_jacobian():
    """task_jacobian (one tape.gradient per task's own scalar loss) equals tf's full Jacobian."""
    tasks = [Task("a", "regression"), Task("b", "regression")]
    inputs = model_inputs((3,))
    h = keras.layers.Dense(4, name="shared.0")(inputs["x"])
    model = keras.Model(inputs, {t.name: keras.layers.Dense(1, name=task_layer_name(t.name, "out"))(h)
                                 for t in tasks})
    shared, _ = split_variables(model, tasks)
    x = tf.random.stateless_normal([5, 3], seed=[0, 1])
    with tf.GradientTape(persistent=True) as tape:
        out = model({"x": x, "task": tf.zeros([5], tf.int32)})
        losses = tf.stack([tf.reduce_mean(out["a"] ** 2), tf.reduce_mean(out["b"])])
        scalars = [losses[0], losses[1]]
    loop = task_jacobian(tape, scalars, shared)
    jac = tf.concat([tf.reshape(j, [2, -1]) for j in tape.jacobian(losses, shared)], axis=1)
    assert loop.shape == (2, 3 * 4 + 4)
    np.testing.assert_allclose(np.asarray(loop), np.asarray(jac), rtol=1e-5, atol=1e-6)
    assert float(tf.norm(loop[0])) > 0 and float(tf.norm(loop[1])) > 0


def _ub_model(tasks, tower: bool):
    """A trunk Z read by every task's head; with ``tower`` the last task's head also reads the raw
    input through a layer of its own (as a position tower does)."""
    inputs = model_inputs((3,))
    z = keras.layers.Dense(4, activation="tanh", name="shared.0")(inputs["x"])
    outs = {}
    for t in tasks:
        h = keras.layers.Dense(5, activation="relu", name=task_layer_name(t.name, "hidden"))(z)
        out = keras.layers.Dense(1, name=task_layer_name(t.name, "out"))(h)
        if tower and t is tasks[-1]:
            side = keras.layers.Dense(1, name=task_layer_name(t.name, "tower"))(inputs["x"])
            out = keras.layers.Add(name=task_layer_name(t.name, "sum"))([out, side])
        outs[t.name] = out
    return keras.Model(inputs, outs)


@pytest.mark.parametrize("tower", [False, True])
def test_mgda_ub_step_equals_the_textbook_computation(tower):
    """One MGDA-UB step (SGD, lr 1) changes every variable by minus the textbook gradient: rows
    (d objective / d L_i) d L_i / d Z by a full Jacobian, weights = the min-norm point of their
    hull, shared variables get sum_i w_i (d objective / d L_i) d L_i / d shared, heads and the
    objective's variables the ordinary gradient of the objective. Task c is absent (weight 0)."""
    from mtl_tf.losses import task_losses
    from mtl_tf.methods import MGDAUB
    from mtl_tf.objectives import make_objective
    from mtl_tf.training.step import train_step
    tasks = [Task("a", "regression"), Task("b", "regression"), Task("c", "regression"), Task("d", "regression")]
    keras.utils.set_random_seed(3)
    model = _ub_model(tasks, tower)
    objective = make_objective("uncertainty", tasks)
    x = tf.random.stateless_normal([8, 3], seed=[4, 5])
    features = {"x": x, "task": tf.zeros([8], tf.int32)}
    labels = {t.name: tf.random.stateless_normal([8], seed=[6, i]) for i, t in enumerate(tasks)}
    masks = {t.name: tf.constant([1.0, 1, 0, 1, 1, 0, 1, 1]) * (0.0 if t.name == "c" else 1.0) for t in tasks}
    shared, own = split_variables(model, tasks)
    rest = [v for n in own for v in own[n]] + list(objective.trainable_variables)
    rep_model = keras.Model(model.input, [shared_representation(model, tasks), model.output])
    with tf.GradientTape(persistent=True) as tape:
        z, out = rep_model(features, training=True)
        losses, present, scalars = task_losses(out, tasks, labels, masks)
        total = objective(losses, present)
    scale = tape.gradient(total, losses)
    rows = task_jacobian(tape, scalars, [z]) * scale[:, None]
    ids = np.flatnonzero(np.asarray(present))
    w = np.zeros(len(tasks), np.float32)
    w[ids] = np.asarray(gm().mgda_weights(tf.matmul(tf.gather(rows, ids), tf.gather(rows, ids), transpose_b=True)))
    expected = tape.gradient(losses, shared, output_gradients=tf.constant(w) * scale)
    expected += tape.gradient(total, rest)
    before = [v.numpy() for v in shared + rest]
    assert w[2] == 0 and np.count_nonzero(w) >= 2, w

    method = MGDAUB(tasks, model)
    _, pairs = train_step(model, objective, method, tasks, (features, labels, masks))
    keras.optimizers.SGD(learning_rate=1.0).apply_gradients(pairs)
    for v, b, g in zip(shared + rest, before, expected):
        np.testing.assert_allclose(b - v.numpy(), np.asarray(g), rtol=2e-4, atol=1e-6,
                                   err_msg=f"variable {v.name}")
    np.testing.assert_allclose(np.asarray(method.task_weights()), w, rtol=1e-4, atol=1e-6)


def _two_branch_model(tasks):
    """Each task reads its own shared layer: there is no single shared representation."""
    inputs = model_inputs((3,))
    outs = {}
    for i, t in enumerate(tasks):
        h = keras.layers.Dense(4, name=f"branch{i}")(inputs["x"])
        outs[t.name] = keras.layers.Dense(1, name=task_layer_name(t.name, "out"))(h)
    return keras.Model(inputs, outs)


def test_mgda_ub_finds_the_shared_representation_or_fails_clearly():
    from mtl_tf.models import build_model
    tasks = [Task("a", "regression"), Task("b", "regression")]
    model = build_model("shared_bottom", (5,), tasks)
    z = shared_representation(model, tasks)
    assert z is model.get_layer("shared.1").output
    with pytest.raises(ValueError, match="mgda_ub needs one shared representation"):
        shared_representation(_two_branch_model(tasks), tasks)


@pytest.mark.parametrize("args,message", [
    (["--objective=minmax", "--grad_method=mgda"], "cannot be combined with --grad_method=mgda"),
    (["--objective=weighted", "--task_weights=1,2,3"], "--task_weights has 3 value(s) but the data has 2 tasks"),
])
def test_mtl_train_rejects_bad_combinations_in_one_line(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "mtl_tf.train", "--steps=1", f"--run_dir={tmp_path}", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mtl-train: error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]


def test_reference_solvers_run_under_xla_and_agree_with_the_uncompiled_math():
    """The reference MGDA / CAGrad / PCGrad solvers pass the XLA probe (compiled, every input kept
    an input) and give what the uncompiled graph gives for K = 1..4 rows. PCGrad's random orders
    come from XLA's stateless RNG, whose stream differs from the CPU kernel's: its update must be
    the sequential projections in the orders XLA draws."""
    import solutions.gradients as sol
    from mtl_tf.methods import solvers as gradients
    for fn, sample, kwargs, args in [
            (sol.mgda_weights, gradients.sample_gram, {"max_iterations": 250},
             lambda g: (tf.matmul(g, g, transpose_b=True),)),
            (sol.cagrad, gradients.sample_rows, {"c": 0.5}, lambda g: (g,))]:
        solver = gradients.compiled_solver(fn, sample, **kwargs)
        assert solver.compiled, f"{fn.__name__} did not pass the XLA probe"
        plain = tf.function(lambda *a, fn=fn, kwargs=kwargs: fn(*a, **kwargs),
                            input_signature=[tf.TensorSpec([None] * a.shape.rank, a.dtype)
                                             for a in args(tf.ones([1, 7]))])
        for k in range(1, 5):
            a = args(tf.constant(random_grads(k, seed=k)))
            np.testing.assert_allclose(np.asarray(tf.nest.flatten(solver(*a))[0]),
                                       np.asarray(tf.nest.flatten(plain(*a))[0]), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{fn.__name__}, K = {k}")
    solver = gradients.compiled_solver(sol.pcgrad, gradients.sample_rows_and_seed)
    assert solver.compiled, "pcgrad did not pass the XLA probe"
    seed = tf.constant([3, 4], tf.int64)
    for k in range(1, 5):
        g = random_grads(k, seed=k)
        orders = tf.function(lambda: tf.argsort(tf.random.stateless_uniform([k, k], seed=seed), axis=1),
                             jit_compile=True)().numpy()
        expected = sum(_pc_reference(g, i, [j for j in orders[i] if j != i]) for i in range(k))
        np.testing.assert_allclose(np.asarray(solver(tf.constant(g), seed)[0]), expected, rtol=1e-4, atol=1e-5,
                                   err_msg=f"pcgrad, K = {k}")


def test_a_solver_xla_would_recompile_every_step_runs_as_written(caplog):
    """Slicing at a computed index (x[i]) makes XLA bake the input in as a constant: the probe
    sees it, the solver runs uncompiled (same result) and the log says why."""
    from mtl_tf.methods import solvers as gradients

    def indexing_solver(gram):
        best = tf.argmin(tf.linalg.diag_part(gram), output_type=tf.int32)
        return tf.one_hot(best, tf.shape(gram)[0]) * gram[best, best] / gram[best, best]
    with caplog.at_level("WARNING"):
        solver = gradients.compiled_solver(indexing_solver, gradients.sample_gram)
    assert not solver.compiled
    assert "runs without XLA" in caplog.text and "tf.gather" in caplog.text, caplog.text
    gram = tf.constant([[2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(solver(gram)), [0.0, 1.0])
