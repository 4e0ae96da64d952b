"""masked_task_losses averages every example, labelled or not."""

TARGETS = ['tests/test_optimization.py::test_masked_task_losses_hand_computed']


def masked_task_losses(per_example_losses, masks):
    counts = tf.reduce_sum(masks, axis=0)
    return tf.reduce_mean(per_example_losses, axis=0), counts > 0
