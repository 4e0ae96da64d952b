"""sum_objective adds every task's loss, present or not."""

TARGETS = ['tests/test_objectives.py::test_sum_objective_adds_present_tasks_only']


def sum_objective(losses, present):
    return tf.reduce_sum(losses)
