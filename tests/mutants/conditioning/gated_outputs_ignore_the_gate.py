"""gated_outputs averages the J networks whatever z says."""

TARGETS = ['tests/test_conditioning.py::test_gated_outputs_select_the_task_network']


def gated_outputs(outputs, z):
    return tf.reduce_mean(outputs, axis=1)
