"""PCGrad averages the projected gradients instead of adding them."""

TARGETS = ['tests/test_gradients.py::test_pcgrad_two_tasks_hand_computed_and_no_conflict_left', 'tests/test_gradients.py::test_identical_gradients_give_the_plain_combination']


_reference_pcgrad = pcgrad


def pcgrad(grads, seed):
    update, weights = _reference_pcgrad(grads, seed)
    k = tf.cast(tf.shape(grads)[0], grads.dtype)
    return update / k, weights / k
