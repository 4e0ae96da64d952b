"""attention_mask adds the gate instead of multiplying."""

TARGETS = ['tests/test_builders.py::test_attention_mask_is_a_sigmoid_gate']


def attention_mask(features, mask_logits):
    return features + tf.sigmoid(mask_logits)
