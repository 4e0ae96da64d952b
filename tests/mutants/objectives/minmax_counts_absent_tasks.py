"""min-max takes the max over all tasks, absent ones included."""

TARGETS = ['tests/test_objectives.py::test_minmax_objective_hard_and_smooth']


def minmax_objective(losses, present, temperature=0.0):
    if temperature > 0:
        return temperature * tf.reduce_logsumexp(losses / temperature)
    return tf.reduce_max(losses)
