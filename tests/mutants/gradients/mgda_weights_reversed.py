"""mgda combines the gradients with the weights in the wrong order (w[k] on the wrong task)."""

TARGETS = ['tests/test_gradients.py::test_mgda_two_tasks_closed_form']


def mgda(grads, max_iterations=250, tolerance=1e-6):
    w = mgda_weights(tf.matmul(grads, grads, transpose_b=True), max_iterations, tolerance)
    return tf.linalg.matvec(grads, tf.reverse(w, [0]), transpose_a=True), w
