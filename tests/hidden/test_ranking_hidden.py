"""Hidden graded tests (shipped only in the autograder bundle): ranking.

Converted tests: each ``compute_*`` runs with the submission and returns plain data; the check half
under ``@graded`` runs in the grader's trusted process on what was sent (see mtl_tf/grading/checked.py).
"""

import math

import numpy as np

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded


def graded_module():
    return impl.module("ranking")


def _combine_inputs():
    rng = np.random.default_rng(7)
    return rng.uniform(0.05, 1.0, size=(9, 4)), rng.uniform(0.0, 3.0, size=4)


def compute_combine_scores():
    p, w = _combine_inputs()
    return {"sum": graded_module().combine_scores(p, w, "sum"), "product": graded_module().combine_scores(p, w, "product")}


@graded(points=1, compute=compute_combine_scores)
def test_combine_scores_on_random_predictions_matches_a_direct_formula(got):
    """Random [N, T] predictions and weights: sum_t w_t p_t and prod_t p_t ** w_t."""
    p, w = _combine_inputs()
    checks.close(got["sum"], (p * w).sum(axis=1), rtol=1e-6, name="combine_scores(p, w, 'sum')",
                 msg="weighted sum: score_i = sum_t w_t p_it")
    checks.close(got["product"], np.prod(p ** w, axis=1), rtol=1e-5, name="combine_scores(p, w, 'product')",
                 msg="weighted product: score_i = prod_t p_it ** w_t")


SLATES = ((6, 3), (5, 5), (4, 9), (8, 1))


def _slates():
    rng = np.random.default_rng(11)
    return [(rng.normal(size=n), rng.uniform(0, 1, size=n), k) for n, k in SLATES]


def compute_ndcg():
    f = graded_module().ndcg_at_k
    return {"ndcg": [f(scores, relevance, k) for scores, relevance, k in _slates()],
            "no_relevant": f(np.array([0.3, 0.1]), np.zeros(2), 2)}


@graded(points=1, compute=compute_ndcg)
def test_ndcg_at_k_on_random_slates_matches_a_rank_by_rank_loop(got):
    """Random slates and cut-offs (some k above the slate size): DCG by scores over the ideal DCG."""
    assert type(got["ndcg"]) is list and len(got["ndcg"]) == len(SLATES), "expected one NDCG per slate"
    for value, (scores, relevance, k) in zip(got["ndcg"], _slates()):
        n = len(scores)
        by_score = [relevance[i] for i in sorted(range(n), key=lambda i: -scores[i])]
        ideal = sorted(relevance, reverse=True)
        dcg = sum(by_score[r] / math.log2(r + 2) for r in range(min(k, n)))
        best = sum(ideal[r] / math.log2(r + 2) for r in range(min(k, n)))
        checks.close(checks.array(value, shape=(), kind="f", name=f"ndcg_at_k (n={n}, k={k})"), dcg / best,
                     rtol=1e-6, name=f"ndcg_at_k (n={n}, k={k})", msg=f"n={n}, k={k}")
    checks.close(got["no_relevant"], 0.0, name="ndcg_at_k with no relevant item", msg="no relevant item: NDCG is 0")


def _drop_inputs():
    rng = np.random.default_rng(5)
    position = rng.integers(1, 11, size=10000).astype(np.int64)
    noise = rng.uniform(size=10000).astype(np.float32)
    return position, noise


def compute_drop_positions():
    position, noise = _drop_inputs()
    return {"positions": np.asarray(graded_module().drop_positions(position, 0.25, noise))}


@graded(points=1, compute=compute_drop_positions)
def test_drop_positions_keeps_the_dtype_and_hides_about_rate_of_many(got):
    """Uniform noise over 10000 examples hides a fraction close to the rate; int64 positions stay int64."""
    position, noise = _drop_inputs()
    got_positions = checks.array(got["positions"], shape=position.shape, name="drop_positions(...)")
    assert got_positions.dtype == np.int64, f"positions came in as int64, got {got_positions.dtype} back"
    checks.equal(got_positions, np.where(noise < 0.25, 0, position), name="drop_positions(...)",
                 msg="0 (missing) exactly where noise < rate, the position elsewhere")
