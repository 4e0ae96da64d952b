"""cross_stitch_mix returns the columns unmixed."""

TARGETS = ['tests/test_builders.py::test_cross_stitch_mix_matches_hand_values']


def cross_stitch_mix(columns, alpha):
    return tf.identity(columns) + 0.0 * tf.reduce_sum(alpha)
