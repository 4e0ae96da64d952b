"""additive_conditioning leaves out z @ projection."""

TARGETS = ['tests/test_conditioning.py::test_concat_and_additive_conditioning_are_the_same_layer']


def additive_conditioning(h, z, kernel, projection, bias):
    return tf.matmul(h, kernel) + bias
