"""mgda reports min-norm weights but returns the mean gradient."""

TARGETS = ['tests/test_gradients.py::test_mgda_two_tasks_closed_form', 'tests/test_gradients.py::test_update_is_the_weighted_combination_it_reports']


def mgda(grads, max_iterations=250, tolerance=1e-6):
    w = mgda_weights(tf.matmul(grads, grads, transpose_b=True), max_iterations, tolerance)
    return tf.reduce_mean(grads, axis=0), w
