"""soft_sharing_penalty sums absolute differences (an L1 penalty), not squares."""

TARGETS = ['tests/test_builders.py::test_soft_sharing_penalty_is_zero_iff_equal_and_matches_hand_value']


def soft_sharing_penalty(task_weights, weight=1.0):
    total = tf.constant(0.0)
    for a in range(len(task_weights)):
        for b in range(a + 1, len(task_weights)):
            for pa, pb in zip(task_weights[a], task_weights[b]):
                total += tf.reduce_sum(tf.abs(tf.convert_to_tensor(pa) - tf.convert_to_tensor(pb)))
    return weight * total
