"""deep_relation_regularizer ignores Omega (a plain squared norm)."""

TARGETS = ['tests/test_builders.py::test_deep_relation_regularizer_and_task_covariance_match_hand_values']


def deep_relation_regularizer(w, omega):
    return tf.reduce_sum(w * w) + 0.0 * tf.reduce_sum(omega)
