"""DWA uses L(e-2) / L(e-1): slow tasks get less weight."""

TARGETS = ['tests/test_objectives.py::test_dwa_weights_hand_computed']


def dwa_weights(previous, before_previous, temperature=2.0):
    ratio = before_previous / previous
    k = tf.cast(tf.size(ratio), ratio.dtype)
    return k * tf.nn.softmax(ratio / temperature)
