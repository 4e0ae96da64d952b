"""MGDA by Frank-Wolfe with away steps that stops when a step changes the weights by less than the tolerance (not on the duality gap): after an away step a rounding residue makes the same vertex the away vertex again and the loop ends short of the optimum."""

TARGETS = ['tests/test_gradients.py::test_mgda_weights_reach_the_exact_min_norm_point']


def mgda_weights(gram, max_iterations: int = 250, tolerance: float = 1e-6):
        
    k = tf.shape(gram)[0]
    dtype = gram.dtype

    eye = tf.eye(k, dtype=dtype)   # its rows are the one-hot vectors e_i

    # Every branch is written for any K (tf.gather, not [i, j] indexing; shape [k]): tf.case builds
    # them all, and XLA (which the trainer uses when it can) compiles them all for each K.
    def two():
        gamma = min_norm_two(*[tf.gather_nd(gram, ij) for ij in ([0, 0], [0, 1], [1, 1])])
        return gamma * tf.gather(eye, 0) + (1.0 - gamma) * tf.gather(eye, 1)

    def frank_wolfe():
        def body(i, a, change):
            ma = tf.linalg.matvec(gram, a)
            v1v1 = tf.tensordot(a, ma, 1)
            t = tf.argmin(ma, output_type=tf.int32)
            # away vertex: the used task whose gradient points most along the current point
            s = tf.argmax(tf.where(a > 0, ma, -float("inf")), output_type=tf.int32)
            # (tf.gather, not x[t]: XLA compiles slicing at a computed index only for constant inputs)
            toward = v1v1 - tf.gather(ma, t) >= tf.gather(ma, s) - v1v1
            a_s = tf.gather(a, s)
            # far end of the segment: g_t (Frank-Wolfe step) or past v1 away from g_s (away step)
            reach = tf.minimum(a_s / tf.maximum(1.0 - a_s, 1e-12), 1e6)
            far = tf.where(toward, tf.gather(eye, t), (1.0 + reach) * a - reach * tf.gather(eye, s))
            mf = tf.linalg.matvec(gram, far)
            gamma = min_norm_two(v1v1, tf.tensordot(a, mf, 1), tf.tensordot(far, mf, 1))
            new = tf.maximum(gamma * a + (1.0 - gamma) * far, 0.0)
            new = new / tf.reduce_sum(new)
            return i + 1, new, tf.reduce_sum(tf.abs(new - a))

        a0 = tf.fill([k], 1.0 / tf.cast(k, dtype))
        _, a, _ = tf.while_loop(lambda i, a, change: (i < max_iterations) & (change >= tolerance),
                                body, (tf.constant(0), a0, tf.constant(1.0, dtype)))
        return a

    return tf.case([(tf.equal(k, 1), lambda: tf.ones([k], dtype)), (tf.equal(k, 2), two)], default=frank_wolfe)
