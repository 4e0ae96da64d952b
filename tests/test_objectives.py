"""Graded: multi-task objectives."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.tasks import Task
from conftest import describe


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


def obj():
    return impl.module("objectives")


def _f(x):
    return tf.constant(x, tf.float32)


@pytest.mark.points(1)
def test_weighted_objective_hand_computed():
    got = float(obj().weighted_objective(_f([1.0, 2.0, 40.0, 0.5]), tf.constant([True, True, False, True]),
                                         _f([2.0, 0.5, 1.0, 4.0])))
    assert got == pytest.approx(5.0), f"expected 2*1 + 0.5*2 + 4*0.5 = 5 (task 3 absent), got {got}"


@pytest.mark.points(2)
def test_minmax_objective_hard_and_smooth():
    losses, present = _f([1.0, 3.0, 40.0, 0.5]), tf.constant([True, True, False, True])
    hard = float(obj().minmax_objective(losses, present, 0.0))
    assert hard == pytest.approx(3.0), f"the worst PRESENT task's loss is 3 (40 is absent), got {hard}"
    smooth = float(obj().minmax_objective(losses, present, 0.5))
    expected = 0.5 * np.log(np.exp(2.0) + np.exp(6.0) + np.exp(1.0))
    assert smooth == pytest.approx(expected, rel=1e-5), (
        f"tau=0.5: expected 0.5*log(e^(1/0.5) + e^(3/0.5) + e^(0.5/0.5)) = {expected:.5f}, got {smooth}")
    assert smooth >= hard, "the smooth max must be >= the hard max"
    none = float(obj().minmax_objective(losses, tf.constant([False] * 4), 0.0))
    assert none == 0.0, f"with no task present the objective should be 0, got {none}"
    x = tf.Variable([1.0, 3.0, 2.0])
    with tf.GradientTape() as tape:
        value = obj().minmax_objective(x, tf.constant([True, True, True]), 0.0)
    np.testing.assert_allclose(tape.gradient(value, x).numpy(), [0, 1, 0],
                               err_msg="only the worst task gets gradient from the hard max")


@pytest.mark.points(2)
def test_uncertainty_objective_value_and_gradient():
    """regression 0.5 e^-s L + 0.5 s, classification e^-s L + 0.5 s, absent tasks nothing."""
    s = tf.Variable([0.0, float(np.log(2.0)), 1.0])
    with tf.GradientTape() as tape:
        value = obj().uncertainty_objective(_f([2.0, 3.0, 9.0]), tf.constant([True, True, False]), s,
                                            tf.constant([True, False, True]))
    expected = 0.5 * 2.0 + (3.0 / 2.0 + 0.5 * np.log(2.0))
    assert float(value) == pytest.approx(expected, rel=1e-5), (
        f"expected 0.5*e^0*2 + 0 (regression, s=0) + e^-log2*3 + 0.5*log2 (classification) = {expected:.5f}, "
        f"got {float(value):.5f}")
    grad = tape.gradient(value, s)
    assert grad is not None, "no gradient reaches the log-variances s"
    np.testing.assert_allclose(grad.numpy(), [-0.5, -1.0, 0.0], rtol=1e-5, err_msg=(
        "d/ds: regression -0.5 e^-s L + 0.5 = -0.5; classification -e^-s L + 0.5 = -1; absent 0"))


@pytest.mark.points(2)
def test_dwa_weights_hand_computed():
    got = np.asarray(obj().dwa_weights(_f([1.0, 2.0]), _f([2.0, 2.0]), 2.0))
    e = np.exp([0.25, 0.5])
    expected = 2 * e / e.sum()
    np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=(
        f"w = L(e-1)/L(e-2) = [0.5, 1]; 2*softmax(w/2) = {expected}; got {describe(got)}"))
    assert got.sum() == pytest.approx(2.0, rel=1e-5), "DWA weights sum to the number of tasks"


@pytest.mark.points(3)
def test_gradnorm_loss_hand_computed_and_not_the_known_bug():
    """w=[1,2], ||grad_W L||=[2,1] -> G=[2,2]; L/L0=[0.5,2] -> r=[0.4,1.6]; target = 2 r^1.5."""
    w = tf.Variable([1.0, 2.0])
    args = (_f([2.0, 1.0]), _f([1.0, 4.0]), _f([2.0, 2.0]), tf.constant([True, True]))
    with tf.GradientTape() as tape:
        value = obj().gradnorm_loss(w, *args, alpha=1.5)
    r = np.array([0.4, 1.6])
    expected = np.abs(2.0 - 2.0 * r ** 1.5).sum()
    bug = np.abs(2.0 - (2.0 * r) ** 1.5).sum()
    assert float(value) != pytest.approx(bug, rel=1e-3), (
        f"got {float(value):.4f} = sum |G_i - (mean G * r_i)^alpha|: alpha must apply to r_i only")
    assert float(value) == pytest.approx(expected, rel=1e-4), (
        f"expected sum |G_i - mean(G) r_i^alpha| = {expected:.4f}, got {float(value):.4f}")
    grad = tape.gradient(value, w)
    np.testing.assert_allclose(grad.numpy(), [2.0, -1.0], rtol=1e-5, err_msg=(
        "the target is a constant (stop_gradient): dL_grad/dw_i = sign(G_i - target_i) ||grad_W L_i|| = [2, -1]"))
    # an absent task takes no part: same value as the 2 present tasks alone
    three = obj().gradnorm_loss(_f([1.0, 5.0, 2.0]), _f([2.0, 7.0, 1.0]), _f([1.0, 99.0, 4.0]),
                                _f([2.0, 1.0, 2.0]), tf.constant([True, False, True]), alpha=1.5)
    assert float(three) == pytest.approx(expected, rel=1e-4), (
        f"with the middle task absent L_grad should equal the 2-task value {expected:.4f}, got {float(three):.4f}")


@pytest.mark.points(1)
def test_renormalize_weights_sums_to_the_task_count():
    got = np.asarray(obj().renormalize_weights(_f([1.0, 3.0])))
    np.testing.assert_allclose(got, [0.5, 1.5], rtol=1e-6, err_msg=f"expected [0.5, 1.5] (sum 2), got {got}")


@pytest.mark.points(2)
def test_gradnorm_weight_update_hand_computed():
    """First update: L(0) = L so r = 1, target = mean G = 1.5; grad = [2, -1]; lr 0.1 -> [0.8, 1.1] -> x 2/1.9."""
    from mtl_tf.objectives import GradNormObjective
    g = GradNormObjective([Task("a", "regression"), Task("b", "regression")], alpha=1.5, lr=0.1)
    g.update(_f([0.7, 0.3]), tf.constant([True, True]), _f([2.0, 1.0]))
    np.testing.assert_allclose(g.weights.numpy(), np.array([0.8, 1.1]) * 2 / 1.9, rtol=1e-5, err_msg=(
        f"expected w = renormalize([1, 1] - 0.1 * [2, -1]) = {np.array([0.8, 1.1]) * 2 / 1.9}, got {g.weights.numpy()}"))
    np.testing.assert_allclose(g.initial_losses.numpy(), [0.7, 0.3], err_msg="L_i(0) is the first step's loss")
    value = float(g(_f([1.0, 1.0]), tf.constant([True, True])))
    assert value == pytest.approx(2.0, rel=1e-5), f"the model's objective is sum w_i L_i = 2, got {value}"


@pytest.mark.points(2)
def test_pareto_tools():
    d = obj().dominates
    assert d([1, 2], [1, 3]) is True, "[1, 2] is no worse anywhere and better on task 2: it dominates [1, 3]"
    assert d([1, 2], [1, 2]) is False, "equal points do not dominate each other"
    assert d([1, 3], [2, 2]) is False and d([2, 2], [1, 3]) is False, "a trade-off: neither dominates"
    front = np.asarray(obj().pareto_front([[1, 2], [2, 1], [2, 2], [1, 2], [3, 0.5]]))
    np.testing.assert_array_equal(front, [True, True, False, True, True], err_msg=(
        f"[2, 2] is dominated by [1, 2]; the rest are Pareto-optimal; got {front}"))


# ---- framework wrappers (state) ----------------------------------------------------------------------------

def test_dwa_objective_uses_epoch_averages_of_present_tasks():
    from mtl_tf.objectives import DWAObjective
    dwa = DWAObjective([Task("a", "regression"), Task("b", "regression")], temperature=2.0, epoch_steps=2)
    both, only_a = tf.constant([True, True]), tf.constant([True, False])
    for losses, present in [([1.0, 4.0], both), ([3.0, 50.0], only_a),    # epoch 1: a 2, b 4 (b absent once)
                            ([1.0, 3.0], both), ([1.0, 3.0], both)]:       # epoch 2: a 1, b 3
        value = float(dwa(_f(losses), present))
        np.testing.assert_allclose(dwa.task_weights().numpy(), [1.0, 1.0], err_msg="weights are 1 for 2 epochs")
    e = np.exp(np.array([1 / 2, 3 / 4]) / 2.0)
    expected = 2 * e / e.sum()
    value = float(dwa(_f([2.0, 2.0]), both))
    np.testing.assert_allclose(dwa.task_weights().numpy(), expected, rtol=1e-5)
    assert value == pytest.approx(2.0 * expected.sum(), rel=1e-5)


def test_uncertainty_log_variance_converges_to_log_loss_scale():
    """Two regression tasks with noise variance 0.25 and 4: s_t -> log of the task's residual MSE."""
    from mtl_tf.objectives import UncertaintyObjective
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 1)).astype(np.float32)
    sigma = np.array([0.5, 2.0], np.float32)
    y = x * np.array([1.0, -2.0], np.float32) + rng.normal(size=(2000, 2)).astype(np.float32) * sigma
    theta = tf.Variable(tf.zeros([2]))
    u = UncertaintyObjective([Task("a", "regression"), Task("b", "regression")])
    variables = [theta] + list(u.trainable_variables)
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            losses = tf.reduce_mean((y - x * theta) ** 2, axis=0)
            value = u(losses, tf.constant([True, True]))
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        return losses

    for _ in range(800):
        losses = step()
    s = u.log_variances.numpy()
    np.testing.assert_allclose(s, np.log(losses.numpy()), atol=0.03,
                               err_msg=f"s = {s} should reach log(final MSE) = {np.log(losses.numpy())}")
    np.testing.assert_allclose(s, np.log(sigma ** 2), atol=0.15, err_msg=f"s = {s} vs log sigma^2 {np.log(sigma ** 2)}")


def test_make_objective_checks_task_weights():
    from absl import flags
    from mtl_tf.objectives import make_objective
    tasks = [Task("a", "regression"), Task("b", "regression")]
    fv = flags.FlagValues()
    for name, value in [("task_weights", ["1", "0.5", "2"])]:
        flags.DEFINE_list(name, value, "", flag_values=fv)
    fv.mark_as_parsed()
    with pytest.raises(ValueError, match="--task_weights has 3 value"):
        make_objective("weighted", tasks, fv)
