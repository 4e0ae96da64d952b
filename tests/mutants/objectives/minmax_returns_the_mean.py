"""min-max returns the mean of the present losses, not the worst."""

TARGETS = ['tests/test_objectives.py::test_minmax_objective_hard_and_smooth']


def minmax_objective(losses, present, temperature=0.0):
    kept = tf.boolean_mask(losses, present)
    return tf.where(tf.reduce_any(present), tf.reduce_mean(kept), 0.0)
