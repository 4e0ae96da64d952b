"""combine_scores' product multiplies the predictions without raising them to their weights."""

TARGETS = ['tests/test_ranking.py::test_combine_scores_weighted_sum_and_weighted_product',
           'tests/hidden/test_ranking_hidden.py::test_combine_scores_on_random_predictions_matches_a_direct_formula']


def combine_scores(predictions, weights, mode="sum", eps=1e-6):
    p, w = np.asarray(predictions, np.float64), np.asarray(weights, np.float64)
    return p @ w if mode == "sum" else np.prod(p, axis=1)
