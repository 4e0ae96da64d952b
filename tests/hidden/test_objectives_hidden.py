"""Hidden graded tests (shipped only in the autograder bundle): objectives."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl


@pytest.mark.points(1)
def test_sum_objective_ignores_non_finite_absent_losses():
    """An absent task's loss may be inf or nan: it must not reach the sum (select, don't multiply by 0)."""
    f = impl.module("objectives").sum_objective
    got = float(f(tf.constant([1.0, np.inf, 2.0, np.nan]), tf.constant([True, False, True, False])))
    assert got == pytest.approx(3.0), (
        f"losses [1, inf, 2, nan] with only tasks 0 and 2 present: expected 1 + 2 = 3, got {got}. "
        "0 * inf is nan: pick the present losses with tf.where instead of multiplying by a 0/1 mask.")


@pytest.mark.points(1)
def test_pareto_front_on_random_points_matches_pairwise_dominance():
    """pareto_front on random points (with ties and duplicates) matches a pairwise check done here."""
    rng = np.random.default_rng(7)
    points = rng.integers(0, 4, size=(12, 3)).astype(float)
    points[5] = points[2]  # a duplicate
    got = np.asarray(impl.module("objectives").pareto_front(points))
    expected = np.array([not any(np.all(q <= p) and np.any(q != p) for q in points) for p in points])
    assert got.shape == expected.shape, f"expected a bool array of shape {expected.shape}, got shape {got.shape}"
    wrong = np.flatnonzero(got.astype(bool) != expected)
    assert wrong.size == 0, (f"points {wrong.tolist()} are misclassified (expected {expected[wrong].tolist()}, "
                             f"got {got[wrong].tolist()}); a point is on the front iff no other point is no worse "
                             "everywhere and better somewhere (duplicates are all kept)")
