"""sluice_mix orders the (task, subspace) pairs subspace-major."""

TARGETS = ['tests/hidden/test_architectures_hidden.py::test_sluice_mix_on_random_alpha_matches_a_direct_loop']


def sluice_mix(columns, alpha, num_subspaces):
    t, c = columns.shape[0], columns.shape[-1]
    g = num_subspaces
    b = tf.shape(columns)[1]
    pairs = tf.reshape(tf.transpose(tf.reshape(columns, [t, b, g, c // g]), [2, 0, 1, 3]), [g * t, b, c // g])
    mixed = tf.einsum("ij,jbk->ibk", alpha, pairs)
    return tf.reshape(tf.transpose(tf.reshape(mixed, [g, t, b, c // g]), [1, 2, 0, 3]), [t, b, c])
