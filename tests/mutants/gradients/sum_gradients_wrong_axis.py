"""sum_gradients sums over parameters instead of tasks."""

TARGETS = ['tests/test_gradients.py::test_sum_gradients_hand_computed']


def sum_gradients(grads):
    return tf.reduce_sum(grads, axis=1), tf.ones(tf.shape(grads)[:1], grads.dtype)
