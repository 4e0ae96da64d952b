"""unflatten_gradients fills the variables in reverse order."""

TARGETS = ['tests/test_gradients.py::test_flatten_and_unflatten_gradients_round_trip']


def unflatten_gradients(vector, variables):
    sizes = [int(np.prod(v.shape)) for v in variables][::-1]
    parts = tf.split(vector, sizes)[::-1]
    return [tf.reshape(part, v.shape) for part, v in zip(parts, variables)]
