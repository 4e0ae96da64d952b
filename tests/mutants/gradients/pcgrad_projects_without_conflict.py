"""PCGrad projects even when g_i . g_j >= 0."""

TARGETS = ['tests/test_gradients.py::test_pcgrad_two_tasks_hand_computed_and_no_conflict_left', 'tests/test_gradients.py::test_identical_gradients_give_the_plain_combination']


def pcgrad(grads, seed):
    k = tf.shape(grads)[0]
    norms2 = tf.reduce_sum(grads * grads, axis=1)
    pc, coef = grads, tf.eye(k, dtype=grads.dtype)
    for s in range(grads.shape[0]):
        j = tf.fill([k], s)
        gj = tf.gather(grads, j)
        dot = tf.reduce_sum(pc * gj, axis=1)
        scale = tf.where(j != tf.range(k), dot / (tf.gather(norms2, j) + EPS), 0.0)
        pc = pc - scale[:, None] * gj
        coef = coef - scale[:, None] * tf.one_hot(j, k, dtype=grads.dtype)
    return tf.reduce_sum(pc, axis=0), tf.reduce_sum(coef, axis=0)
