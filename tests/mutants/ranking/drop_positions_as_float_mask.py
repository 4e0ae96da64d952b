"""drop_positions multiplies the position by a float keep mask (returns floats, not embedding indices)."""

TARGETS = ['tests/test_ranking.py::test_drop_positions_hides_exactly_where_noise_is_below_the_rate',
           'tests/hidden/test_ranking_hidden.py::test_drop_positions_keeps_the_dtype_and_hides_about_rate_of_many']


def drop_positions(position, rate, noise):
    keep = tf.cast(tf.convert_to_tensor(noise) >= rate, tf.float32)
    return tf.cast(tf.convert_to_tensor(position), tf.float32) * keep
