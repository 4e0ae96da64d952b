"""Hidden graded tests (shipped only in the autograder bundle): objectives.

Converted tests: each ``compute_*`` runs with the submission and returns plain data; the check half
under ``@graded`` runs in the grader's trusted process on what was sent (see mtl_tf/grading/checked.py).
"""

import numpy as np
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded


def compute_sum_non_finite():
    f = impl.module("objectives").sum_objective
    return {"sum": f(tf.constant([1.0, np.inf, 2.0, np.nan]), tf.constant([True, False, True, False]))}


@graded(points=1, compute=compute_sum_non_finite)
def test_sum_objective_ignores_non_finite_absent_losses(got):
    """An absent task's loss may be inf or nan: it must not reach the sum (select, don't multiply by 0)."""
    value = checks.array(got["sum"], shape=(), kind="f", name="sum_objective([1, inf, 2, nan], [T, F, T, F])")
    checks.close(value, 3.0, rtol=1e-6, msg=(
        "losses [1, inf, 2, nan] with only tasks 0 and 2 present: expected 1 + 2 = 3. "
        "0 * inf is nan: pick the present losses with tf.where instead of multiplying by a 0/1 mask."))


def _front_points():
    rng = np.random.default_rng(7)
    points = rng.integers(0, 4, size=(12, 3)).astype(float)
    points[5] = points[2]  # a duplicate
    return points


def compute_pareto_front():
    return {"front": impl.module("objectives").pareto_front(_front_points())}


@graded(points=1, compute=compute_pareto_front)
def test_pareto_front_on_random_points_matches_pairwise_dominance(got):
    """pareto_front on random points (with ties and duplicates) matches a pairwise check done here."""
    points = _front_points()
    expected = np.array([not any(np.all(q <= p) and np.any(q != p) for q in points) for p in points])
    front = checks.array(got["front"], shape=expected.shape, kind="biu", name="pareto_front(points)")
    wrong = np.flatnonzero(front.astype(bool) != expected)
    assert wrong.size == 0, (f"points {wrong.tolist()} are misclassified (expected {expected[wrong].tolist()}, "
                             f"got {front[wrong].tolist()}); a point is on the front iff no other point is no worse "
                             "everywhere and better somewhere (duplicates are all kept)")
