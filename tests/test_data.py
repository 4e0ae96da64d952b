"""Offline sources, validation, standardization and the tf.data pipelines."""


import numpy as np
import pytest

from mtl_tf.data import DataError, joint_dataset, standardize, task_sampled_dataset, validate
from mtl_tf.data.base import MultiTaskData, Split, split_indices
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.tasks import Task


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9, -0.7])
def test_correlated_regression_linear_parts_have_correlation_p(p):
    _, linear = make_correlated_regression(num_examples=20000, correlation=p, seed=1, return_linear=True)
    got = np.corrcoef(linear[:, 0], linear[:, 1])[0, 1]
    assert abs(got - p) < 0.03, f"expected correlation {p}, measured {got:.3f}"


def test_correlated_regression_is_deterministic_by_seed():
    a = make_correlated_regression(num_examples=200, seed=3)
    b = make_correlated_regression(num_examples=200, seed=3)
    c = make_correlated_regression(num_examples=200, seed=4)
    np.testing.assert_array_equal(a.train.features["x"], b.train.features["x"])
    np.testing.assert_array_equal(a.test.labels["task2"], b.test.labels["task2"])
    assert not np.array_equal(a.train.labels["task1"], c.train.labels["task1"])


def test_splits_never_overlap():
    tr, va, te = split_indices(1000, seed=0)
    assert len(set(tr) | set(va) | set(te)) == 1000
    assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    data = make_correlated_regression(num_examples=500, seed=0)
    rows = {s: {r.tobytes() for r in split.features["x"]} for s, split in data.splits().items()}
    assert not (rows["train"] & rows["test"]) and not (rows["train"] & rows["validation"])


def _toy(kind="binary", labels=(0, 1, 1, 0), masks=(1, 1, 1, 1), x=None):
    n = len(labels)
    x = np.zeros((n, 2), np.float32) if x is None else x
    tasks = [Task("t", kind, num_classes=3 if kind == "multiclass" else 0)]
    split = Split({"x": x}, {"t": np.array(labels)}, {"t": np.array(masks, np.float32)})
    return MultiTaskData("toy", tasks, split, split, split)


@pytest.mark.parametrize("data, words", [
    (_toy(labels=(0, 2, 1, 0)), "task 't'.*integers in \\[0, 2\\)"),
    (_toy("regression", labels=(0.0, np.nan, 1.0, 2.0)), "task 't'.*NaN"),
    (_toy(masks=(0, 0, 0, 0)), "task 't'.*no training examples"),
    (_toy(x=np.full((4, 2), np.inf, np.float32)), "non-finite"),
])
def test_bad_data_is_named(data, words):
    with pytest.raises(DataError, match=words):
        validate(data)


def test_mismatched_task_names():
    data = _toy()
    data.train.labels["other"] = data.train.labels.pop("t")
    with pytest.raises(DataError, match="labels are for tasks"):
        validate(data)


def test_standardization_uses_training_labels_only():
    data = standardize(make_correlated_regression(num_examples=2000, seed=0))
    for t in data.tasks:
        y = t.training_labels(data.train.labels[t.name])
        assert abs(y.mean()) < 1e-5 and abs(y.std() - 1) < 1e-4
    raw = standardize(make_correlated_regression(num_examples=2000, seed=0), enabled=False)
    assert all((t.label_mean, t.label_scale) == (0.0, 1.0) for t in raw.tasks)


def _sized_tasks(sizes):
    """Multi-task classification data: task i has sizes[i] examples, only its own mask on."""
    n = sum(sizes)
    tasks = [Task(f"t{i}", "binary") for i in range(len(sizes))]
    owner = np.repeat(np.arange(len(sizes)), sizes)
    x = np.arange(n, dtype=np.float32)[:, None]
    labels = {t.name: (np.arange(n) % 2).astype(np.int32) for t in tasks}
    masks = {t.name: (owner == i).astype(np.float32) for i, t in enumerate(tasks)}
    return tasks, Split({"x": x}, labels, masks), owner


def test_task_sampled_batches_have_static_shapes_and_own_masks():
    tasks, split, owner = _sized_tasks([50, 30, 20])
    ds = task_sampled_dataset(split, tasks, tasks_per_step=2, batch_size=4, seed=0)
    assert ds.element_spec[0]["x"].shape == (8, 1)
    for features, labels, masks in ds.take(20):
        task = features["task"].numpy()
        assert len(set(task[:4])) == 1 and len(set(task[4:])) == 1 and task[0] != task[4]
        idx = features["x"].numpy()[:, 0].astype(int)
        np.testing.assert_array_equal(owner[idx], task)  # examples come from their own task
        for i, t in enumerate(tasks):
            np.testing.assert_array_equal(masks[t.name].numpy(), (task == i).astype(np.float32))


def test_task_sampling_is_uniform_whatever_the_task_sizes():
    tasks, split, _ = _sized_tasks([2000, 200, 20])  # 100x size difference
    ds = task_sampled_dataset(split, tasks, tasks_per_step=1, batch_size=2, seed=0)
    counts = np.zeros(3)
    for features, _, _ in ds.take(3000):
        counts[features["task"].numpy()[0]] += 1
    expected = counts.sum() / 3
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 13.8, f"task counts {counts} are not uniform (chi-square {chi2:.1f}, 2 dof, p<0.001)"


def test_fixed_seed_gives_the_same_batches():
    tasks, split, _ = _sized_tasks([40, 40, 40])
    def first(seed):
        return [b[0]["x"].numpy() for b in task_sampled_dataset(split, tasks, 2, 3, seed=seed).take(5)]
    a, b, c = first(7), first(7), first(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_joint_batches_keep_partial_labels_masked():
    tasks = [Task("a", "binary"), Task("b", "regression")]
    n = 10
    split = Split({"x": np.arange(n, dtype=np.float32)[:, None]},
                  {"a": np.arange(n) % 2, "b": np.arange(n, dtype=np.float32)},
                  {"a": np.ones(n, np.float32), "b": (np.arange(n) < 5).astype(np.float32)})
    features, labels, masks = next(iter(joint_dataset(split, tasks, batch_size=10, seed=0)))
    idx = features["x"].numpy()[:, 0].astype(int)
    np.testing.assert_array_equal(masks["b"].numpy(), (idx < 5).astype(np.float32))
    np.testing.assert_array_equal(masks["a"].numpy(), np.ones(10))


def test_bad_tasks_per_step():
    tasks, split, _ = _sized_tasks([5, 5])
    with pytest.raises(ValueError, match="between 1 and the number of tasks"):
        task_sampled_dataset(split, tasks, tasks_per_step=3, batch_size=2, seed=0)
