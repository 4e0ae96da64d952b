"""gated_outputs softmaxes the gate: one-hot z leaks weight (and gradient) to every network."""

TARGETS = ['tests/test_conditioning.py::test_gated_outputs_select_the_task_network']


def gated_outputs(outputs, z):
    return tf.einsum("bj,bju->bu", tf.nn.softmax(z, axis=-1), outputs)
