"""GradNorm renormalisation uses a softmax (changes the ratios)."""

TARGETS = ['tests/test_objectives.py::test_renormalize_weights_sums_to_the_task_count']


def renormalize_weights(weights):
    return tf.cast(tf.size(weights), weights.dtype) * tf.nn.softmax(weights)
