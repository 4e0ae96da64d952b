"""uncertainty weighting drops the +s/2 regularizer (s runs to infinity)."""

TARGETS = ['tests/test_objectives.py::test_uncertainty_objective_value_and_gradient']


def uncertainty_objective(losses, present, log_variances, is_regression):
    factor = tf.where(is_regression, 0.5, 1.0)
    terms = factor * tf.exp(-log_variances) * losses
    return tf.reduce_sum(tf.where(present, terms, tf.zeros_like(terms)))
