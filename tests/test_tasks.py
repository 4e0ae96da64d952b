"""The task kinds: output sizes, losses, metrics in original units, baselines."""

import math

import numpy as np
import pytest

from mtl_tf.tasks import Task, binary_auc, check_task_names


def test_output_size_follows_kind():
    assert Task("a", "regression").output_size == 1
    assert Task("b", "binary").output_size == 1
    assert Task("c", "multiclass", num_classes=5).output_size == 5


@pytest.mark.parametrize("kwargs, words", [
    ({"name": "1bad", "kind": "regression"}, "must start with a letter"),
    ({"name": "a.b", "kind": "regression"}, "only"),
    ({"name": "a", "kind": "ordinal"}, "not one of"),
    ({"name": "a", "kind": "multiclass", "num_classes": 1}, "num_classes >= 2"),
    ({"name": "a", "kind": "binary", "num_classes": 3}, "only for multiclass"),
])
def test_bad_task_is_a_clear_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Task(**kwargs)


def test_duplicate_names_rejected():
    with pytest.raises(ValueError, match="repeated"):
        check_task_names([Task("a", "binary"), Task("a", "regression")])


def test_losses_match_hand_values():
    reg = Task("r", "regression").loss(np.array([1.0, -1.0], np.float32), np.array([[3.0], [-1.0]], np.float32))
    np.testing.assert_allclose(reg.numpy(), [4.0, 0.0])
    b = Task("b", "binary").loss(np.array([1, 0]), np.array([[0.0], [2.0]], np.float32)).numpy()
    np.testing.assert_allclose(b, [math.log(2), math.log(1 + math.e ** 2)], rtol=1e-6)
    logits = np.array([[1.0, 2.0, 3.0]], np.float32)
    m = Task("m", "multiclass", num_classes=3).loss(np.array([2]), logits).numpy()
    np.testing.assert_allclose(m, [-(3 - np.log(np.exp(logits).sum()))], rtol=1e-6)


def test_regression_metrics_are_in_original_units():
    task = Task("r", "regression").standardized(mean=10.0, scale=2.0)
    raw = np.array([10.0, 14.0])
    np.testing.assert_allclose(task.training_labels(raw), [0.0, 2.0])
    # outputs in standardized units, 1 unit off on the second example -> 2 original units
    metrics = task.metrics(raw, np.array([[0.0], [1.0]]))
    assert metrics["mae"] == pytest.approx(1.0)
    assert metrics["rmse"] == pytest.approx(math.sqrt(2.0))


def test_metrics_respect_mask_and_empty():
    task = Task("b", "binary")
    m = task.metrics(np.array([1, 0, 1]), np.array([[5.0], [-5.0], [-5.0]]), mask=np.array([1, 1, 0]))
    assert m["accuracy"] == 1.0
    assert task.metrics(np.array([1]), np.array([[1.0]]), mask=np.array([0])) == {}


def test_auc_against_pair_counting(rng):
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # ties on purpose
    pos, neg = s[y == 1], s[y == 0]
    expected = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert binary_auc(y, s) == pytest.approx(expected)
    assert math.isnan(binary_auc(np.ones(3), np.arange(3)))


def test_constant_baseline_is_the_mean_predictor():
    task = Task("r", "regression").standardized(5.0, 2.0)
    out = task.constant_outputs(np.array([4.0, 6.0, 8.0]), 2)
    np.testing.assert_allclose(task.predictions(out), [6.0, 6.0])
    b = Task("b", "binary").constant_outputs(np.array([1, 1, 1, 0]), 1)
    assert Task("b", "binary").predictions(b)[0] == pytest.approx(0.75, abs=1e-4)
    m = Task("m", "multiclass", num_classes=3)
    probs = m.predictions(m.constant_outputs(np.array([0, 0, 1, 2]), 1))[0]
    np.testing.assert_allclose(probs, [0.5, 0.25, 0.25], atol=1e-3)
