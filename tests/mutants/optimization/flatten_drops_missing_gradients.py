"""flatten_gradients skips None gradients instead of writing zeros."""

TARGETS = ['tests/test_gradients.py::test_flatten_and_unflatten_gradients_round_trip']


def flatten_gradients(grads, variables):
    return tf.concat([tf.reshape(g, [-1]) for g in grads if g is not None], axis=0)
