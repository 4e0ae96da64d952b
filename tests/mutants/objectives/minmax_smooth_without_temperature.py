"""smooth min-max forgets to scale by the temperature."""

TARGETS = ['tests/test_objectives.py::test_minmax_objective_hard_and_smooth']


_reference_minmax = minmax_objective


def minmax_objective(losses, present, temperature=0.0):
    if temperature > 0:
        return tf.reduce_logsumexp(tf.where(present, losses, tf.fill(tf.shape(losses), -np.inf)))
    return _reference_minmax(losses, present, 0.0)
