"""Graded: multi-task objectives."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl


@pytest.mark.points(2)
def test_sum_objective_adds_present_tasks_only():
    """sum_objective = sum of the losses of the tasks present this step."""
    f = impl.module("objectives").sum_objective
    losses = tf.constant([1.0, 2.0, 40.0, 0.5])
    present = tf.constant([True, True, False, True])
    got = float(f(losses, present))
    assert got == pytest.approx(3.5), (
        f"losses {losses.numpy()} with present {present.numpy()}: expected 1 + 2 + 0.5 = 3.5 "
        f"(the absent task's 40 must not count), got {got}")
    got_all = float(f(tf.constant([0.25, 0.75]), tf.constant([True, True])))
    assert got_all == pytest.approx(1.0), f"expected 0.25 + 0.75 = 1.0, got {got_all}"


@pytest.mark.points(1)
def test_sum_objective_is_differentiable():
    """The gradient of sum_objective is 1 for present tasks and 0 for absent ones."""
    f = impl.module("objectives").sum_objective
    losses = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        value = f(losses, tf.constant([True, False, True]))
    g = tape.gradient(value, losses)
    assert g is not None, "no gradient flows from sum_objective to the losses"
    np.testing.assert_allclose(g.numpy(), [1.0, 0.0, 1.0],
                               err_msg="d(objective)/d(losses) should be 1 for present and 0 for absent tasks")
