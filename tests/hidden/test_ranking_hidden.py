"""Hidden graded tests (shipped only in the autograder bundle): ranking."""

import math

import numpy as np
import pytest

from mtl_tf import impl


def graded():
    return impl.module("ranking")


@pytest.mark.points(1)
def test_combine_scores_on_random_predictions_matches_a_direct_formula():
    """Random [N, T] predictions and weights: sum_t w_t p_t and prod_t p_t ** w_t."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 1.0, size=(9, 4))
    w = rng.uniform(0.0, 3.0, size=4)
    got = np.asarray(graded().combine_scores(p, w, "sum"))
    np.testing.assert_allclose(got, (p * w).sum(axis=1), rtol=1e-6, err_msg="weighted sum: score_i = sum_t w_t p_it")
    got = np.asarray(graded().combine_scores(p, w, "product"))
    np.testing.assert_allclose(got, np.prod(p ** w, axis=1), rtol=1e-5,
                               err_msg="weighted product: score_i = prod_t p_it ** w_t")


@pytest.mark.points(1)
def test_ndcg_at_k_on_random_slates_matches_a_rank_by_rank_loop():
    """Random slates and cut-offs (some k above the slate size): DCG by scores over the ideal DCG."""
    rng = np.random.default_rng(11)
    for n, k in ((6, 3), (5, 5), (4, 9), (8, 1)):
        scores, relevance = rng.normal(size=n), rng.uniform(0, 1, size=n)
        by_score = [relevance[i] for i in sorted(range(n), key=lambda i: -scores[i])]
        ideal = sorted(relevance, reverse=True)
        dcg = sum(by_score[r] / math.log2(r + 2) for r in range(min(k, n)))
        best = sum(ideal[r] / math.log2(r + 2) for r in range(min(k, n)))
        got = graded().ndcg_at_k(scores, relevance, k)
        assert got == pytest.approx(dcg / best, rel=1e-6), f"n={n}, k={k}: expected {dcg / best:.6f}, got {got}"
    assert graded().ndcg_at_k(np.array([0.3, 0.1]), np.zeros(2), 2) == 0.0, "no relevant item: NDCG is 0"


@pytest.mark.points(1)
def test_drop_positions_keeps_the_dtype_and_hides_about_rate_of_many():
    """Uniform noise over 10000 examples hides a fraction close to the rate; int64 positions stay int64."""
    rng = np.random.default_rng(5)
    position = rng.integers(1, 11, size=10000).astype(np.int64)
    noise = rng.uniform(size=10000).astype(np.float32)
    got = np.asarray(graded().drop_positions(position, 0.25, noise))
    assert got.dtype == np.int64, f"positions came in as int64, got {got.dtype} back"
    np.testing.assert_array_equal(got, np.where(noise < 0.25, 0, position),
                                  err_msg="0 (missing) exactly where noise < rate, the position elsewhere")
