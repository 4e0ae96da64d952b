"""mixture_of_experts uses the raw gate logits as weights (no softmax)."""

TARGETS = ['tests/test_builders.py::test_mixture_of_experts_gates_are_distributions_and_mix']


def mixture_of_experts(expert_outputs, gate_logits):
    return tf.einsum("be,beu->bu", gate_logits, expert_outputs), gate_logits
