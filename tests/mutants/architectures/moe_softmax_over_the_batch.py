"""mixture_of_experts softmaxes the gates over the batch axis."""

TARGETS = ['tests/test_builders.py::test_mixture_of_experts_gates_are_distributions_and_mix']


def mixture_of_experts(expert_outputs, gate_logits):
    gates = tf.nn.softmax(gate_logits, axis=0)
    return tf.einsum("be,beu->bu", gates, expert_outputs), gates
