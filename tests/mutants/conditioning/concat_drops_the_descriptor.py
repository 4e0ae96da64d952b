"""concat_conditioning ignores z (uses only the rows of the kernel for h)."""

TARGETS = ['tests/test_conditioning.py::test_concat_and_additive_conditioning_are_the_same_layer']


def concat_conditioning(h, z, kernel, bias):
    return tf.matmul(h, kernel[: tf.shape(h)[-1]]) + bias
