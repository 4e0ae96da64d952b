"""cross_stitch_mix uses alpha transposed (alpha[s, t] for output t)."""

TARGETS = ['tests/test_builders.py::test_cross_stitch_mix_matches_hand_values']


def cross_stitch_mix(columns, alpha):
    return tf.einsum("stc,sbc->tbc", alpha, columns)
