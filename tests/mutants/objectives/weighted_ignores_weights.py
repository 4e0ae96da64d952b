"""weighted_objective forgets the weights."""

TARGETS = ['tests/test_objectives.py::test_weighted_objective_hand_computed']


def weighted_objective(losses, present, weights):
    return tf.reduce_sum(tf.where(present, losses, tf.zeros_like(losses)))
