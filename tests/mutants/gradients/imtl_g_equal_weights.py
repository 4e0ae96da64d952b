"""IMTL-G returns the mean (equal weights)."""

TARGETS = ['tests/test_gradients.py::test_imtl_g_projections_on_unit_gradients_are_equal']


def imtl_g(grads):
    k = tf.shape(grads)[0]
    w = tf.fill([k], 1.0 / tf.cast(k, grads.dtype))
    return tf.linalg.matvec(grads, w, transpose_a=True), w
