"""additive_conditioning multiplies by z @ projection instead of adding it."""

TARGETS = ['tests/test_conditioning.py::test_concat_and_additive_conditioning_are_the_same_layer']


def additive_conditioning(h, z, kernel, projection, bias):
    return tf.matmul(h, kernel) * tf.matmul(z, projection) + bias
