"""Graded: multi-task objectives.

The graded tests are converted (``@graded``): ``compute_*`` runs with the submission and returns plain
data; the check half runs in the grader's trusted process on what was sent (mtl_tf/grading/checked.py).
"""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded
from mtl_tf.tasks import Task
from conftest import describe


def compute_sum_present():
    f = impl.module("objectives").sum_objective
    return {"sum": f(tf.constant([1.0, 2.0, 40.0, 0.5]), tf.constant([True, True, False, True])),
            "all": f(tf.constant([0.25, 0.75]), tf.constant([True, True]))}


@graded(points=2, compute=compute_sum_present)
def test_sum_objective_adds_present_tasks_only(got):
    """sum_objective = sum of the losses of the tasks present this step."""
    checks.close(got["sum"], 3.5, rtol=1e-6, name="sum_objective([1, 2, 40, 0.5], [T, T, F, T])",
                 msg="expected 1 + 2 + 0.5 = 3.5 (the absent task's 40 must not count)")
    checks.close(got["all"], 1.0, rtol=1e-6, name="sum_objective([0.25, 0.75], [T, T])", msg="expected 0.25 + 0.75 = 1.0")


def compute_sum_gradient():
    f = impl.module("objectives").sum_objective
    losses = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        value = f(losses, tf.constant([True, False, True]))
    g = tape.gradient(value, losses)
    return {"gradient": g}


@graded(points=1, compute=compute_sum_gradient)
def test_sum_objective_is_differentiable(got):
    """The gradient of sum_objective is 1 for present tasks and 0 for absent ones."""
    assert got["gradient"] is not None, "no gradient flows from sum_objective to the losses"
    checks.close(got["gradient"], [1.0, 0.0, 1.0], rtol=1e-6, name="d(objective)/d(losses)",
                 msg="d(objective)/d(losses) should be 1 for present and 0 for absent tasks")


def obj():
    return impl.module("objectives")


def _f(x):
    return tf.constant(x, tf.float32)


def compute_weighted():
    return {"value": obj().weighted_objective(_f([1.0, 2.0, 40.0, 0.5]), tf.constant([True, True, False, True]),
                                              _f([2.0, 0.5, 1.0, 4.0]))}


@graded(points=1, compute=compute_weighted)
def test_weighted_objective_hand_computed(got):
    checks.close(got["value"], 5.0, rtol=1e-6, name="weighted_objective",
                 msg="expected 2*1 + 0.5*2 + 4*0.5 = 5 (task 3 absent)")


def compute_minmax():
    losses, present = _f([1.0, 3.0, 40.0, 0.5]), tf.constant([True, True, False, True])
    x = tf.Variable([1.0, 3.0, 2.0])
    with tf.GradientTape() as tape:
        value = obj().minmax_objective(x, tf.constant([True, True, True]), 0.0)
    return {"hard": obj().minmax_objective(losses, present, 0.0),
            "smooth": obj().minmax_objective(losses, present, 0.5),
            "none": obj().minmax_objective(losses, tf.constant([False] * 4), 0.0),
            "gradient": tape.gradient(value, x)}


@graded(points=2, compute=compute_minmax)
def test_minmax_objective_hard_and_smooth(got):
    hard = checks.array(got["hard"], shape=(), kind="f", name="minmax_objective(tau=0)")
    checks.close(hard, 3.0, rtol=1e-6, name="minmax_objective(tau=0)", msg="the worst PRESENT task's loss is 3 (40 is absent)")
    expected = 0.5 * np.log(np.exp(2.0) + np.exp(6.0) + np.exp(1.0))
    smooth = checks.array(got["smooth"], shape=(), kind="f", name="minmax_objective(tau=0.5)")
    checks.close(smooth, expected, rtol=1e-5, name="minmax_objective(tau=0.5)",
                 msg=f"tau=0.5: expected 0.5*log(e^(1/0.5) + e^(3/0.5) + e^(0.5/0.5)) = {expected:.5f}")
    assert smooth >= hard, "the smooth max must be >= the hard max"
    checks.close(got["none"], 0.0, name="minmax_objective with no task present",
                 msg="with no task present the objective should be 0")
    assert got["gradient"] is not None, "no gradient flows from minmax_objective to the losses"
    checks.close(got["gradient"], [0, 1, 0], atol=1e-6, name="gradient of the hard max",
                 msg="only the worst task gets gradient from the hard max")


def compute_uncertainty():
    s = tf.Variable([0.0, float(np.log(2.0)), 1.0])
    with tf.GradientTape() as tape:
        value = obj().uncertainty_objective(_f([2.0, 3.0, 9.0]), tf.constant([True, True, False]), s,
                                            tf.constant([True, False, True]))
    return {"value": value, "gradient": tape.gradient(value, s)}


@graded(points=2, compute=compute_uncertainty)
def test_uncertainty_objective_value_and_gradient(got):
    """regression 0.5 e^-s L + 0.5 s, classification e^-s L + 0.5 s, absent tasks nothing."""
    expected = 0.5 * 2.0 + (3.0 / 2.0 + 0.5 * np.log(2.0))
    checks.close(got["value"], expected, rtol=1e-5, name="uncertainty_objective", msg=(
        f"expected 0.5*e^0*2 + 0 (regression, s=0) + e^-log2*3 + 0.5*log2 (classification) = {expected:.5f}"))
    assert got["gradient"] is not None, "no gradient reaches the log-variances s"
    checks.close(got["gradient"], [-0.5, -1.0, 0.0], rtol=1e-5, name="d/ds", msg=(
        "d/ds: regression -0.5 e^-s L + 0.5 = -0.5; classification -e^-s L + 0.5 = -1; absent 0"))


def compute_dwa():
    return {"weights": obj().dwa_weights(_f([1.0, 2.0]), _f([2.0, 2.0]), 2.0)}


@graded(points=2, compute=compute_dwa)
def test_dwa_weights_hand_computed(got):
    e = np.exp([0.25, 0.5])
    expected = 2 * e / e.sum()
    weights = checks.array(got["weights"], shape=(2,), kind="f", name="dwa_weights")
    checks.close(weights, expected, rtol=1e-5, name="dwa_weights",
                 msg=f"w = L(e-1)/L(e-2) = [0.5, 1]; 2*softmax(w/2) = {expected}; got {describe(weights)}")
    checks.close(weights.sum(), 2.0, rtol=1e-5, name="sum of the DWA weights", msg="DWA weights sum to the number of tasks")


def compute_gradnorm_loss():
    w = tf.Variable([1.0, 2.0])
    args = (_f([2.0, 1.0]), _f([1.0, 4.0]), _f([2.0, 2.0]), tf.constant([True, True]))
    with tf.GradientTape() as tape:
        value = obj().gradnorm_loss(w, *args, alpha=1.5)
    three = obj().gradnorm_loss(_f([1.0, 5.0, 2.0]), _f([2.0, 7.0, 1.0]), _f([1.0, 99.0, 4.0]),
                                _f([2.0, 1.0, 2.0]), tf.constant([True, False, True]), alpha=1.5)
    return {"value": value, "gradient": tape.gradient(value, w), "three": three}


@graded(points=3, compute=compute_gradnorm_loss)
def test_gradnorm_loss_hand_computed_and_not_the_known_bug(got):
    """w=[1,2], ||grad_W L||=[2,1] -> G=[2,2]; L/L0=[0.5,2] -> r=[0.4,1.6]; target = 2 r^1.5."""
    r = np.array([0.4, 1.6])
    expected = np.abs(2.0 - 2.0 * r ** 1.5).sum()
    bug = np.abs(2.0 - (2.0 * r) ** 1.5).sum()
    value = float(checks.array(got["value"], shape=(), kind="f", name="gradnorm_loss"))
    assert not np.isclose(value, bug, rtol=1e-3), (
        f"got {value:.4f} = sum |G_i - (mean G * r_i)^alpha|: alpha must apply to r_i only")
    checks.close(value, expected, rtol=1e-4, name="gradnorm_loss",
                 msg=f"expected sum |G_i - mean(G) r_i^alpha| = {expected:.4f}")
    assert got["gradient"] is not None, "no gradient reaches the task weights w"
    checks.close(got["gradient"], [2.0, -1.0], rtol=1e-5, name="dL_grad/dw", msg=(
        "the target is a constant (stop_gradient): dL_grad/dw_i = sign(G_i - target_i) ||grad_W L_i|| = [2, -1]"))
    # an absent task takes no part: same value as the 2 present tasks alone
    checks.close(got["three"], expected, rtol=1e-4, name="gradnorm_loss with the middle task absent",
                 msg=f"with the middle task absent L_grad should equal the 2-task value {expected:.4f}")


def compute_renormalize():
    return {"weights": obj().renormalize_weights(_f([1.0, 3.0]))}


@graded(points=1, compute=compute_renormalize)
def test_renormalize_weights_sums_to_the_task_count(got):
    checks.close(got["weights"], [0.5, 1.5], rtol=1e-6, name="renormalize_weights([1, 3])", msg="expected [0.5, 1.5] (sum 2)")


def compute_gradnorm_update():
    from mtl_tf.objectives import GradNormObjective
    g = GradNormObjective([Task("a", "regression"), Task("b", "regression")], alpha=1.5, lr=0.1)
    g.update(_f([0.7, 0.3]), tf.constant([True, True]), _f([2.0, 1.0]))
    weights, initial = g.weights.numpy(), g.initial_losses.numpy()
    return {"weights": weights, "initial": initial, "value": g(_f([1.0, 1.0]), tf.constant([True, True]))}


@graded(points=2, compute=compute_gradnorm_update)
def test_gradnorm_weight_update_hand_computed(got):
    """First update: L(0) = L so r = 1, target = mean G = 1.5; grad = [2, -1]; lr 0.1 -> [0.8, 1.1] -> x 2/1.9."""
    expected = np.array([0.8, 1.1]) * 2 / 1.9
    checks.close(got["weights"], expected, rtol=1e-5, name="GradNorm weights after one update",
                 msg=f"expected w = renormalize([1, 1] - 0.1 * [2, -1]) = {expected}")
    checks.close(got["initial"], [0.7, 0.3], rtol=1e-6, name="L_i(0)", msg="L_i(0) is the first step's loss")
    checks.close(got["value"], 2.0, rtol=1e-5, name="the GradNorm objective", msg="the model's objective is sum w_i L_i = 2")


def compute_pareto_tools():
    d = obj().dominates
    return {"better": d([1, 2], [1, 3]), "equal": d([1, 2], [1, 2]),
            "tradeoff": [d([1, 3], [2, 2]), d([2, 2], [1, 3])],
            "front": obj().pareto_front([[1, 2], [2, 1], [2, 2], [1, 2], [3, 0.5]])}


@graded(points=2, compute=compute_pareto_tools)
def test_pareto_tools(got):
    assert got["better"] is True, "[1, 2] is no worse anywhere and better on task 2: it dominates [1, 3] (return a bool)"
    assert got["equal"] is False, "equal points do not dominate each other (return a bool)"
    assert got["tradeoff"] == [False, False], "a trade-off: neither dominates"
    checks.equal(got["front"], [True, True, False, True, True], kind="biu", name="pareto_front",
                 msg="[2, 2] is dominated by [1, 2]; the rest are Pareto-optimal")


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
