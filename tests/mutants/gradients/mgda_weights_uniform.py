"""MGDA's weights stay uniform (the mean, not the min-norm point)."""

TARGETS = ['tests/test_gradients.py::test_mgda_is_the_min_norm_point_of_the_hull']


def mgda_weights(gram, max_iterations=250, tolerance=1e-6):
    k = tf.shape(gram)[0]
    return tf.fill([k], 1.0 / tf.cast(k, gram.dtype))
