"""sample_tasks uses stateful randomness: the seed does not fix the draw."""

TARGETS = ['tests/test_optimization.py::test_sample_tasks_are_distinct_in_range_and_seeded']


def sample_tasks(seed, num_tasks, k):
    return tf.cast(tf.random.shuffle(tf.range(num_tasks))[:k], tf.int32)
