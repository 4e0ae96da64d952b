"""IMTL-G uses the raw gradients where the unit vectors belong."""

TARGETS = ['tests/test_gradients.py::test_imtl_g_projections_on_unit_gradients_are_equal']


def imtl_g(grads):
    k = tf.shape(grads)[0]

    def several():
        d = grads[:1] - grads[1:]
        rest = tf.matmul(tf.matmul(grads[:1], d, transpose_b=True),
                         tf.linalg.pinv(tf.matmul(d, d, transpose_b=True)))[0]
        return tf.concat([[1.0 - tf.reduce_sum(rest)], rest], axis=0)

    alpha = tf.cond(k > 1, several, lambda: tf.ones([k], grads.dtype))
    return tf.linalg.matvec(grads, alpha, transpose_a=True), alpha
