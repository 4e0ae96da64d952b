"""sample_tasks always returns tasks 0..k-1 (not uniform)."""

TARGETS = ['tests/test_optimization.py::test_sample_tasks_is_uniform']


def sample_tasks(seed, num_tasks, k):
    return tf.range(k, dtype=tf.int32)
