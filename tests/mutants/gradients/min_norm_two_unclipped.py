"""min_norm_two forgets to clip gamma to [0, 1]."""

TARGETS = ['tests/test_gradients.py::test_mgda_two_tasks_closed_form']


def min_norm_two(g11, g12, g22):
    denom = g11 - 2.0 * g12 + g22
    return tf.where(denom > EPS, (g22 - g12) / tf.maximum(denom, EPS), 0.5)
