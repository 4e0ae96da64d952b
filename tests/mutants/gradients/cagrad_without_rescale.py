"""CAGrad forgets the 1 / (1 + c) rescale."""

TARGETS = ['tests/test_gradients.py::test_cagrad_matches_a_grid_search_and_reduces_to_the_mean_at_c0', 'tests/test_gradients.py::test_identical_gradients_give_the_plain_combination']


_reference_cagrad = cagrad


def cagrad(grads, c=0.5, iterations=50):
    update, weights = _reference_cagrad(grads, c, iterations)
    return update * (1.0 + c), weights * (1.0 + c)
