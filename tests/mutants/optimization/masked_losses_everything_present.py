"""masked_task_losses says every task is present."""

TARGETS = ['tests/test_optimization.py::test_masked_task_losses_hand_computed']


def masked_task_losses(per_example_losses, masks):
    counts = tf.reduce_sum(masks, axis=0)
    totals = tf.reduce_sum(per_example_losses * masks, axis=0)
    return totals / tf.maximum(counts, 1.0), counts >= 0
