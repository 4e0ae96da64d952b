"""DWA forgets the factor K: weights sum to 1, not K."""

TARGETS = ['tests/test_objectives.py::test_dwa_weights_hand_computed']


def dwa_weights(previous, before_previous, temperature=2.0):
    return tf.nn.softmax(previous / before_previous / temperature)
