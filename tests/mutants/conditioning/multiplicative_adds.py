"""multiplicative_conditioning adds z @ scale instead of multiplying."""

TARGETS = ['tests/test_conditioning.py::test_multiplicative_conditioning_scales_and_shifts', 'tests/test_conditioning.py::test_multiplicative_conditioning_generalizes_gating']


def multiplicative_conditioning(h, z, scale, shift=None):
    out = h + tf.matmul(z, scale)
    if shift is not None:
        out = out + tf.matmul(z, shift)
    return out
