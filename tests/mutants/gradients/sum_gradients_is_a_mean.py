"""sum_gradients averages the task gradients."""

TARGETS = ['tests/test_gradients.py::test_sum_gradients_hand_computed']


def sum_gradients(grads):
    k = tf.cast(tf.shape(grads)[0], grads.dtype)
    return tf.reduce_mean(grads, axis=0), tf.fill(tf.shape(grads)[:1], 1.0 / k)
