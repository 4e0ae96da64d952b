"""concat_conditioning concatenates [z, h] where the kernel expects [h, z]."""

TARGETS = ['tests/test_conditioning.py::test_concat_and_additive_conditioning_are_the_same_layer']


def concat_conditioning(h, z, kernel, bias):
    return tf.matmul(tf.concat([z, h], axis=-1), kernel) + bias
