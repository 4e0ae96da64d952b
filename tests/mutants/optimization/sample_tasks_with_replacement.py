"""sample_tasks draws with replacement (a task can come twice)."""

TARGETS = ['tests/test_optimization.py::test_sample_tasks_are_distinct_in_range_and_seeded']


def sample_tasks(seed, num_tasks, k):
    return tf.random.stateless_uniform([k], seed=seed, minval=0, maxval=num_tasks, dtype=tf.int32)
