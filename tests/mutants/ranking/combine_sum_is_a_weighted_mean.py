"""combine_scores' sum divides by the total weight (a weighted mean; same order, wrong values)."""

TARGETS = ['tests/test_ranking.py::test_combine_scores_weighted_sum_and_weighted_product',
           'tests/hidden/test_ranking_hidden.py::test_combine_scores_on_random_predictions_matches_a_direct_formula']


def combine_scores(predictions, weights, mode="sum", eps=1e-6):
    p, w = np.asarray(predictions, np.float64), np.asarray(weights, np.float64)
    if mode == "sum":
        return p @ w / w.sum()
    return np.exp(np.log(np.maximum(p, eps)) @ w)
