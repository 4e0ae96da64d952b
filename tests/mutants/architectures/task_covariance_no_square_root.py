"""task_covariance normalises W^T W itself, not its square root."""

TARGETS = ['tests/test_builders.py::test_deep_relation_regularizer_and_task_covariance_match_hand_values']


def task_covariance(w, eps=1e-6):
    gram = tf.matmul(w, w, transpose_a=True) + eps * tf.eye(tf.shape(w)[1])
    return gram / tf.linalg.trace(gram)
