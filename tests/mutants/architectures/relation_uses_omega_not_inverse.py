"""deep_relation_regularizer uses Omega where Omega^-1 belongs."""

TARGETS = ['tests/test_builders.py::test_deep_relation_regularizer_and_task_covariance_match_hand_values']


def deep_relation_regularizer(w, omega):
    return tf.reduce_sum(tf.matmul(w, omega) * w)
