"""task_covariance forgets to divide by the trace."""

TARGETS = ['tests/test_builders.py::test_deep_relation_regularizer_and_task_covariance_match_hand_values']


def task_covariance(w, eps=1e-6):
    t = tf.shape(w)[1]
    gram = tf.matmul(w, w, transpose_a=True) + eps * tf.eye(t)
    values, vectors = tf.linalg.eigh(gram)
    return tf.matmul(vectors * tf.sqrt(tf.maximum(values, eps))[None, :], vectors, transpose_b=True)
