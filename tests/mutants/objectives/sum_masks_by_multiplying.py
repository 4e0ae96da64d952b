"""sum_objective multiplies absent losses by 0 (0 * inf = nan)."""

TARGETS = ['tests/hidden/test_objectives_hidden.py::test_sum_objective_ignores_non_finite_absent_losses']


def sum_objective(losses, present):
    return tf.reduce_sum(losses * tf.cast(present, losses.dtype))
