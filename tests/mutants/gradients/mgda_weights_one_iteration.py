"""MGDA's Frank-Wolfe stops after one iteration."""

TARGETS = ['tests/test_gradients.py::test_mgda_is_the_min_norm_point_of_the_hull']


_reference_mgda_weights = mgda_weights


def mgda_weights(gram, max_iterations=250, tolerance=1e-6):
    return _reference_mgda_weights(gram, 1, tolerance)
