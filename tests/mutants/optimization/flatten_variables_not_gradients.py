"""flatten_gradients flattens the variables' values instead of their gradients."""

TARGETS = ['tests/test_gradients.py::test_flatten_and_unflatten_gradients_round_trip']


def flatten_gradients(grads, variables):
    return tf.concat([tf.reshape(tf.convert_to_tensor(v), [-1]) for v in variables], axis=0)
