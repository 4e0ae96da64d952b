"""weighted_objective counts absent tasks."""

TARGETS = ['tests/test_objectives.py::test_weighted_objective_hand_computed']


def weighted_objective(losses, present, weights):
    return tf.reduce_sum(weights * losses)
