"""multiplicative_conditioning forgets the shift term."""

TARGETS = ['tests/test_conditioning.py::test_multiplicative_conditioning_scales_and_shifts']


def multiplicative_conditioning(h, z, scale, shift=None):
    return h * tf.matmul(z, scale)
