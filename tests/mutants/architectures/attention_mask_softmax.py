"""attention_mask uses a softmax over features instead of a sigmoid per feature."""

TARGETS = ['tests/test_builders.py::test_attention_mask_is_a_sigmoid_gate']


def attention_mask(features, mask_logits):
    return features * tf.nn.softmax(mask_logits, axis=-1)
