"""ndcg_at_k returns the DCG of the ranking without dividing by the ideal DCG."""

TARGETS = ['tests/test_ranking.py::test_ndcg_at_k_matches_a_hand_computed_slate',
           'tests/hidden/test_ranking_hidden.py::test_ndcg_at_k_on_random_slates_matches_a_rank_by_rank_loop']


def ndcg_at_k(scores, relevance, k):
    scores, relevance = np.asarray(scores, np.float64), np.asarray(relevance, np.float64)
    depth = min(int(k), len(scores))
    discount = 1.0 / np.log2(np.arange(2, depth + 2))
    return float(relevance[np.argsort(-scores, kind="stable")][:depth] @ discount)
