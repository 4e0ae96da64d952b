"""drop_positions hides the positions whose noise is ABOVE the rate (keeps only a fraction rate)."""

TARGETS = ['tests/test_ranking.py::test_drop_positions_hides_exactly_where_noise_is_below_the_rate',
           'tests/hidden/test_ranking_hidden.py::test_drop_positions_keeps_the_dtype_and_hides_about_rate_of_many']


def drop_positions(position, rate, noise):
    position = tf.convert_to_tensor(position)
    return tf.where(tf.convert_to_tensor(noise) >= rate, tf.zeros_like(position), position)
