"""sum_objective averages the present losses instead of adding them."""

TARGETS = ['tests/test_objectives.py::test_sum_objective_adds_present_tasks_only']


def sum_objective(losses, present):
    kept = tf.boolean_mask(losses, present)
    return tf.reduce_mean(kept)
