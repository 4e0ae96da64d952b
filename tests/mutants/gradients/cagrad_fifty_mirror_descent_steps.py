"""CAGrad by 50 mirror-descent steps on the dual (not solved to a tolerance): at c >= 1 it returns directions that conflict with a task."""

TARGETS = ['tests/test_gradients.py::test_cagrad_at_c_at_least_one_conflicts_with_no_task']


def cagrad(grads, c: float = 0.5, iterations: int = 50):
        
    k = tf.shape(grads)[0]
    kf = tf.cast(k, grads.dtype)
    gram = tf.einsum("ip,jp->ij", grads, grads)   # G G^T; on CPU ~3x faster than matmul when P is large
    mean_w = tf.fill([k], 1.0 / kf)
    g0_norm = tf.sqrt(tf.maximum(tf.reduce_mean(gram), 0.0))
    radius = c * g0_norm
    b = tf.linalg.matvec(gram, mean_w)
    lr = 2.0 / (tf.reduce_max(tf.abs(gram)) + 1e-12)

    def body(i, w):
        mw = tf.linalg.matvec(gram, w)
        grad = b + radius * mw / tf.sqrt(tf.tensordot(w, mw, 1) + 1e-12)
        w = w * tf.exp(-lr * grad)
        return i + 1, w / tf.reduce_sum(w)

    _, w = tf.while_loop(lambda i, w: i < iterations, body, (tf.constant(0), mean_w))
    gw_norm = tf.sqrt(tf.maximum(tf.tensordot(w, tf.linalg.matvec(gram, w), 1), 0.0))
    weights = (mean_w + radius / (gw_norm + 1e-12) * w) / (1.0 + c)
    return tf.linalg.matvec(grads, weights, transpose_a=True), weights
