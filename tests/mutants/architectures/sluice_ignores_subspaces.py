"""sluice_mix mixes whole columns with the first T x T block of alpha."""

TARGETS = ['tests/test_builders.py::test_sluice_mix_matches_hand_values']


def sluice_mix(columns, alpha, num_subspaces):
    t = columns.shape[0]
    return tf.einsum("ts,sbc->tbc", alpha[:t, :t], columns)
