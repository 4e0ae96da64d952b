"""Hidden graded tests (shipped only in the autograder bundle): optimization."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl


@pytest.mark.points(1)
def test_masked_task_losses_on_random_masks_match_a_direct_mean():
    """Random losses and masks (one task never labelled): per-task means over the labelled examples."""
    rng = np.random.default_rng(11)
    per_example = rng.normal(size=(9, 4)).astype(np.float32)
    masks = (rng.random((9, 4)) < 0.5).astype(np.float32)
    masks[:, 3] = 0.0
    masks[0, :3] = 1.0
    losses, present = impl.module("optimization").masked_task_losses(tf.constant(per_example), tf.constant(masks))
    expected = [per_example[masks[:, t] == 1, t].mean() if masks[:, t].any() else 0.0 for t in range(4)]
    np.testing.assert_allclose(np.asarray(losses), expected, rtol=1e-5, atol=1e-6, err_msg=(
        "losses[t] must be the mean of per_example_losses[:, t] over the examples with masks[:, t] == 1 "
        "(0 for a task without any)"))
    np.testing.assert_array_equal(np.asarray(present), [True, True, True, False],
                                  err_msg="present[t] is True exactly when task t has a labelled example")


@pytest.mark.points(1)
@pytest.mark.parametrize("num_tasks, k", [(7, 1), (7, 7), (3, 2)])
def test_sample_tasks_edge_sizes(num_tasks, k):
    """k = 1 and k = T work, with distinct ids in range and int32 dtype."""
    ids = impl.module("optimization").sample_tasks(tf.constant([5, 9], tf.int64), num_tasks, k)
    got = np.asarray(ids)
    assert got.shape == (k,), f"sample_tasks(T={num_tasks}, k={k}): expected shape ({k},), got {got.shape}"
    assert ids.dtype == tf.int32, f"expected int32 ids, got {ids.dtype}"
    assert len(set(got.tolist())) == k and got.min() >= 0 and got.max() < num_tasks, (
        f"expected {k} distinct ids in [0, {num_tasks}), got {got.tolist()}")
