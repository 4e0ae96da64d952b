"""Model selection on validation (select_by, early stopping, resume) and gradient-conflict logging."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data import standardize
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.models import build_model, model_inputs, task_layer_name
from mtl_tf.tasks import Task
from mtl_tf.training import Trainer
from mtl_tf.training.conflict import gradient_conflict
from mtl_tf.training.selection import parse_select_by


@pytest.fixture(scope="module")
def small_data():
    # few training examples and a wide model: validation error turns up while training error falls
    data = standardize(make_correlated_regression(num_examples=400, correlation=0.5, input_dim=8, seed=3))
    data.train = data.train.take(np.arange(60))
    return data


def _trainer(data, **config):
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", data.input_shape, data.tasks, hidden_units=[128, 128])
    base = dict(steps=400, batch_size=16, eval_every=40, log_every=40, learning_rate=1e-2, progress=False)
    return Trainer(model, data, objective="sum", **{**base, **config})


def test_select_by_reports_test_metrics_at_the_best_validation_step(small_data):
    trainer = _trainer(small_data, select_by="mean_rmse")
    results = trainer.fit()
    history = {h["step"]: np.mean([m["rmse"] for m in h["validation"].values()]) for h in trainer.history}
    best = min(history, key=history.get)
    assert results["best_step"] == best, f"best validation step {best}, reported {results['best_step']}"
    assert best < 400, f"this setting overfits; the best step should not be the last: {history}"
    assert results["validation"] == trainer.history[[h["step"] for h in trainer.history].index(best)]["validation"]
    # the model now holds the best step's weights: evaluating again gives the reported test metrics
    again = trainer.evaluate("test")
    for task, metrics in results["tasks"].items():
        assert again[task]["rmse"] == pytest.approx(metrics["rmse"], rel=1e-6)


def test_early_stopping_stops_after_patience_evaluations_without_a_better_one(small_data):
    trainer = _trainer(small_data, select_by="task1/rmse", early_stopping_patience=2)
    results = trainer.fit()
    steps = [h["step"] for h in trainer.history]
    scores = [h["validation"]["task1"]["rmse"] for h in trainer.history]
    best = int(np.argmin(scores))
    assert results["stopped_early"] and results["steps"] < 400, results["steps"]
    assert len(steps) == best + 1 + 2, f"expected to stop 2 evaluations after the best ({steps}, {scores})"
    assert results["best_step"] == steps[best]


def test_selection_resumes_exactly(small_data, tmp_path):
    whole = _trainer(small_data, select_by="mean_rmse").fit()
    _trainer(small_data, select_by="mean_rmse", steps=200, run_dir=str(tmp_path)).fit()
    resumed = _trainer(small_data, select_by="mean_rmse", run_dir=str(tmp_path)).fit()
    assert resumed["resumed_from_step"] == 200
    assert resumed["best_step"] == whole["best_step"]
    for task in whole["tasks"]:
        assert resumed["tasks"][task]["rmse"] == pytest.approx(whole["tasks"][task]["rmse"], rel=1e-4)


def test_select_by_is_checked():
    tasks = [Task("a", "regression")]
    assert parse_select_by("a/rmse", tasks) == ("a", "rmse", True)
    assert parse_select_by("mean_auc", tasks) == (None, "auc", False)
    for bad, message in [("b/rmse", "no task 'b'"), ("a/rsme", "unknown metric 'rsme'"), ("rmse", "use <task>/<metric>")]:
        with pytest.raises(ValueError, match=message):
            parse_select_by(bad, tasks)


def test_gradient_conflict_of_opposite_tasks_is_minus_one():
    """Two tasks reading one shared linear unit with opposite labels: at w = 0 their gradients are
    exact opposites (cosine -1); equal labels give +1."""
    tasks = [Task("a", "regression"), Task("b", "regression"), Task("c", "regression")]
    inputs = model_inputs((3,))
    z = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="shared.0")(inputs["x"])
    model = keras.Model(inputs, {t.name: keras.layers.Identity(name=task_layer_name(t.name, "out"))(z) for t in tasks})
    x = tf.random.stateless_normal([32, 3], seed=[1, 2])
    y = tf.reduce_sum(x, axis=1)
    labels = {"a": y, "b": -y, "c": y}
    masks = {t.name: tf.ones([32]) for t in tasks}
    cosines, norms, present = gradient_conflict(model, tasks, ({"x": x, "task": tf.zeros([32], tf.int32)}, labels, masks))
    np.testing.assert_allclose(cosines.numpy()[0, 1], -1.0, atol=1e-5)
    np.testing.assert_allclose(cosines.numpy()[0, 2], 1.0, atol=1e-5)
    np.testing.assert_allclose(norms.numpy()[0], norms.numpy()[1], rtol=1e-5)
    assert np.all(present.numpy())


def test_trainer_logs_gradient_conflict_to_metrics_and_tensorboard(small_data, tmp_path):
    results = _trainer(small_data, steps=80, log_gradient_conflict=True, run_dir=str(tmp_path)).fit()
    log = results["gradient_conflict"]
    assert [entry["step"] for entry in log] == [40, 80]
    cosine = log[-1]["cosine"]["task1|task2"]
    assert -1.0 <= cosine <= 1.0 and all(v > 0 for v in log[-1]["norm"].values())
    events = [f for f in os.listdir(tmp_path / "tensorboard")]
    assert events, "no TensorBoard events written"
    json.dumps(results)   # metrics.json-ready
