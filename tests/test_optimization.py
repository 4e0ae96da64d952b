"""Graded: uniform task sampling, masked per-task losses, and the task-sampled train step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.models import model_inputs, task_layer_name
from mtl_tf.objectives import SumObjective
from mtl_tf.tasks import Task
from conftest import describe


def opt():
    return impl.module("optimization")


@pytest.mark.points(2)
def test_sample_tasks_are_distinct_in_range_and_seeded():
    """sample_tasks returns k distinct ids in [0, T), the same for the same seed."""
    seed = tf.constant([3, 4], tf.int64)
    ids = opt().sample_tasks(seed, 10, 4).numpy()
    assert ids.shape == (4,), f"expected shape (4,), got {describe(ids)}"
    assert len(set(ids.tolist())) == 4 and ids.min() >= 0 and ids.max() < 10, \
        f"expected 4 distinct ids in [0, 10), got {ids}"
    again = opt().sample_tasks(seed, 10, 4).numpy()
    np.testing.assert_array_equal(ids, again, err_msg="the same seed must give the same tasks")
    full = np.sort(opt().sample_tasks(seed, 5, 5).numpy())
    np.testing.assert_array_equal(full, np.arange(5), err_msg="k = T must return every task once")


@pytest.mark.points(2)
def test_sample_tasks_is_uniform():
    """Over many seeds every task is drawn about equally often (chi-square test)."""
    counts = np.zeros(6)
    for s in range(1200):
        for t in opt().sample_tasks(tf.constant([0, s], tf.int64), 6, 2).numpy():
            counts[t] += 1
    expected = counts.sum() / 6
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 20.5, (f"task counts over 1200 draws of 2 of 6 tasks: {counts}; expected about {expected:.0f} "
                         f"each (chi-square {chi2:.1f} > 20.5, p < 0.001)")


@pytest.mark.points(2)
def test_masked_task_losses_hand_computed():
    """Per-task mean over the examples whose mask is on; absent tasks give 0 and present=False."""
    per_example = tf.constant([[1.0, 10.0, 7.0], [3.0, 20.0, 7.0], [5.0, 99.0, 7.0]])
    masks = tf.constant([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    losses, present = opt().masked_task_losses(per_example, masks)
    np.testing.assert_allclose(np.asarray(losses), [2.0, 15.0, 0.0], rtol=1e-6, err_msg=(
        "task 0: mean of 1 and 3 = 2 (the third example's 5 is masked off); task 1: 15; task 2: no example -> 0"))
    np.testing.assert_array_equal(np.asarray(present), [True, True, False],
                                  err_msg="present should be True exactly for tasks with at least one example")


def _tiny_model(tasks):
    inputs = model_inputs((3,))
    h = keras.layers.Dense(8, activation="relu", name="shared.0",
                           kernel_regularizer=keras.regularizers.L2(0.01))(inputs["x"])
    outs = {t.name: keras.layers.Dense(t.output_size, name=task_layer_name(t.name, "out"))(h) for t in tasks}
    return keras.Model(inputs, outs)


def _batch(tasks, task_of_example):
    rng = np.random.default_rng(0)
    b = len(task_of_example)
    x = rng.normal(size=(b, 3)).astype(np.float32)
    labels = {"r": (x @ [1.0, -2.0, 0.5]).astype(np.float32), "c": (x[:, 0] > 0).astype(np.int32)}
    masks = {t.name: (np.array(task_of_example) == i).astype(np.float32) for i, t in enumerate(tasks)}
    return ({"x": tf.constant(x), "task": tf.constant(task_of_example, tf.int32)},
            {k: tf.constant(v) for k, v in labels.items()}, {k: tf.constant(v) for k, v in masks.items()})


@pytest.mark.points(3)
def test_train_step_lowers_the_loss_and_reports_it():
    """train_step returns the objective (with regularizers) and per-task losses, and training lowers them."""
    keras.utils.set_random_seed(0)
    tasks = [Task("r", "regression"), Task("c", "binary")]
    model = _tiny_model(tasks)
    optimizer = keras.optimizers.Adam(0.05)
    batch = _batch(tasks, [0] * 8 + [1] * 8)
    step = tf.function(lambda b: opt().train_step(model, optimizer, SumObjective(tasks), tasks, b))
    first = step(batch)
    for key in ("loss", "task_losses", "present"):
        assert key in first, f"train_step must return a dict with '{key}'; got keys {sorted(first)}"
    assert float(first["task_losses"][0]) > 0
    for _ in range(60):
        last = step(batch)
    assert float(last["loss"]) < 0.5 * float(first["loss"]), (
        f"60 Adam steps on one batch should at least halve the loss: first {float(first['loss']):.4f}, "
        f"last {float(last['loss']):.4f}")
    expected = float(tf.reduce_sum(last["task_losses"])) + float(tf.add_n(model.losses))
    assert float(last["loss"]) == pytest.approx(expected, rel=0.05), (
        "the returned loss should be the objective (sum of task losses) plus model.losses (regularizers): "
        f"expected about {expected:.4f}, got {float(last['loss']):.4f}")


@pytest.mark.points(2)
def test_train_step_leaves_absent_tasks_untouched():
    """A task with no example in the batch gets no update: its head does not move."""
    keras.utils.set_random_seed(0)
    tasks = [Task("r", "regression"), Task("c", "binary")]
    model = _tiny_model(tasks)
    optimizer = keras.optimizers.Adam(0.05)
    head_c = [v for v in model.trainable_variables if v.path.startswith("c.")]
    before = [v.numpy().copy() for v in head_c]
    batch = _batch(tasks, [0] * 16)  # only task r present
    out = opt().train_step(model, optimizer, SumObjective(tasks), tasks, batch)
    np.testing.assert_array_equal(np.asarray(out["present"]), [True, False])
    for b, v in zip(before, head_c):
        np.testing.assert_array_equal(v.numpy(), b, err_msg=f"{v.path} changed although task 'c' was absent")
    assert np.isfinite(float(out["loss"])), "the loss must stay finite when a task is absent"
