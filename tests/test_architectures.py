"""Graded: the shared-bottom builder (hard parameter sharing)."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from mtl_tf import impl
from mtl_tf.models import check_model_contract, split_variables
from mtl_tf.tasks import Task

TASKS = [Task("price", "regression"), Task("sold", "binary"), Task("kind", "multiclass", num_classes=4)]


def build(**kw):
    keras.utils.set_random_seed(0)
    return impl.module("architectures").shared_bottom((6,), TASKS, **kw)


@pytest.mark.points(2)
def test_shared_bottom_obeys_the_model_contract():
    """shared_bottom returns {task: [B, output_size]} for every task."""
    model = build(hidden_units=(8,), tower_units=(4,))
    check_model_contract(model, TASKS, (6,), batch_size=5)


@pytest.mark.points(2)
def test_shared_bottom_parameter_count():
    """shared_bottom has exactly the layers the docstring describes."""
    model = build(hidden_units=(8, 5), tower_units=(4,))
    shared = 6 * 8 + 8 + 8 * 5 + 5
    towers = sum(5 * 4 + 4 + 4 * t.output_size + t.output_size for t in TASKS)
    got = model.count_params()
    assert got == shared + towers, (
        f"expected {shared + towers} parameters (shared 6->8->5 = {shared}, one 5->4->out tower per task = "
        f"{towers}), got {got}. Check the layer widths and that each task has its own tower.")


@pytest.mark.points(2)
def test_shared_bottom_variables_follow_the_naming_rule():
    """Shared layers carry no task prefix; each tower is named for its task."""
    model = build(hidden_units=(8,), tower_units=(4,))
    shared, own = split_variables(model, TASKS)
    assert len(shared) == 2, (f"expected 2 shared variables (one Dense kernel and bias), got "
                              f"{[v.path for v in shared]}. Name shared layers without a task prefix.")
    for t in TASKS:
        assert len(own[t.name]) == 4, (
            f"task {t.name!r} should own 4 variables (tower and output Dense kernels and biases), got "
            f"{[v.path for v in own[t.name]]}. Build heads with task_head(...).")


@pytest.mark.points(2)
def test_shared_bottom_task_loss_reaches_only_shared_and_own_head():
    """A task's loss has zero gradient on the other tasks' towers and non-zero on the shared trunk."""
    model = build(hidden_units=(8,), tower_units=(4,))
    x = {"x": tf.random.normal([16, 6], seed=1), "task": tf.zeros([16], tf.int32)}
    shared, own = split_variables(model, TASKS)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x)["price"] ** 2)
    grads = tape.gradient(loss, shared + own["sold"] + own["price"])
    n = len(shared)
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads[:n]), \
        "the shared trunk gets no gradient from task 'price': are the heads built on the shared features?"
    other = grads[n:n + len(own["sold"])]
    assert all(g is None or not np.any(g.numpy()) for g in other), \
        "task 'price' changes task 'sold''s tower: each task needs its own head"


@pytest.mark.points(1)
def test_shared_bottom_saves_and_loads(tmp_path):
    """model.save(.keras) then load_model gives the same predictions."""
    model = build(hidden_units=(8,), tower_units=(4,))
    x = {"x": np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32), "task": np.zeros(4, np.int32)}
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for t in TASKS:
        np.testing.assert_allclose(loaded(x)[t.name], model(x)[t.name], rtol=1e-6,
                                   err_msg=f"task {t.name!r} predicts differently after save/load")
