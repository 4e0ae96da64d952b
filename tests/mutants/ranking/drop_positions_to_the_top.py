"""drop_positions replaces a dropped position by position 1 (the top slot) instead of the missing id 0."""

TARGETS = ['tests/test_ranking.py::test_drop_positions_hides_exactly_where_noise_is_below_the_rate',
           'tests/hidden/test_ranking_hidden.py::test_drop_positions_keeps_the_dtype_and_hides_about_rate_of_many']


def drop_positions(position, rate, noise):
    position = tf.convert_to_tensor(position)
    return tf.where(tf.convert_to_tensor(noise) < rate, tf.ones_like(position), position)
