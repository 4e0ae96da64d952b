"""CAGrad ignores c and returns the mean gradient."""

TARGETS = ['tests/test_gradients.py::test_cagrad_matches_a_grid_search_and_reduces_to_the_mean_at_c0']


def cagrad(grads, c=0.5, iterations=50):
    k = tf.shape(grads)[0]
    w = tf.fill([k], 1.0 / tf.cast(k, grads.dtype))
    return tf.linalg.matvec(grads, w, transpose_a=True), w
