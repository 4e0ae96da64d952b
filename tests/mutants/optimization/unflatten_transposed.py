"""unflatten_gradients reshapes in column-major order (a transposed matrix)."""

TARGETS = ['tests/test_gradients.py::test_flatten_and_unflatten_gradients_round_trip']


def unflatten_gradients(vector, variables):
    sizes = [int(np.prod(v.shape)) for v in variables]
    out = []
    for part, v in zip(tf.split(vector, sizes), variables):
        shape = list(v.shape)
        out.append(tf.transpose(tf.reshape(part, shape[::-1])) if len(shape) == 2 else tf.reshape(part, shape))
    return out
