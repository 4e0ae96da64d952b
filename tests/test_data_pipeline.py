"""Pipelines with extra feature keys, proportional task sampling, and the extended validation."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data import DataError, joint_dataset, task_sampled_dataset, validate
from mtl_tf.data.base import MultiTaskData, Split
from mtl_tf.data.pipeline import proportional_sample_tasks
from mtl_tf.data.recommendation import make_recommendation
from mtl_tf.tasks import Task


def _sized_tasks(sizes):
    """Task i has sizes[i] examples (own mask only); x = row id, extra key "pos" = 10 * row id."""
    n = sum(sizes)
    tasks = [Task(f"t{i}", "binary") for i in range(len(sizes))]
    owner = np.repeat(np.arange(len(sizes)), sizes)
    features = {"x": np.arange(n, dtype=np.float32)[:, None], "pos": 10 * np.arange(n, dtype=np.int32)}
    labels = {t.name: (np.arange(n) % 2).astype(np.int32) for t in tasks}
    masks = {t.name: (owner == i).astype(np.float32) for i, t in enumerate(tasks)}
    return tasks, Split(features, labels, masks, {"secret": np.arange(n)}), owner


def test_batches_carry_every_feature_key_row_aligned():
    tasks, split, _ = _sized_tasks([30, 30])
    for ds in (task_sampled_dataset(split, tasks, 2, 4, seed=0), joint_dataset(split, tasks, 8, seed=0)):
        assert set(ds.element_spec[0]) == {"x", "pos", "task"}, "extras must not become model inputs"
        features, _, _ = next(iter(ds))
        np.testing.assert_array_equal(features["pos"].numpy(), 10 * features["x"].numpy()[:, 0].astype(int))


def test_feature_keys_restrict_the_batch_to_a_models_inputs():
    tasks, split, _ = _sized_tasks([30, 30])
    ds = task_sampled_dataset(split, tasks, 2, 4, seed=0, feature_keys=["x", "task"])
    assert set(ds.element_spec[0]) == {"x", "task"}
    assert set(joint_dataset(split, tasks, 4, seed=0, feature_keys=["x"]).element_spec[0]) == {"x", "task"}
    with pytest.raises(ValueError, match="not in the split"):
        task_sampled_dataset(split, tasks, 2, 4, seed=0, feature_keys=["x", "position"])


def _chi_square(counts, expected_p):
    expected = counts.sum() * np.asarray(expected_p)
    return float(((counts - expected) ** 2 / expected).sum())


def _task_counts(ds, num_tasks, steps):
    counts = np.zeros(num_tasks)
    for features, _, _ in ds.take(steps):
        counts[features["task"].numpy()[0]] += 1
    return counts


def test_proportional_sampling_follows_task_sizes_and_uniform_does_not():
    sizes = [600, 300, 100]
    tasks, split, _ = _sized_tasks(sizes)
    p = np.array(sizes) / sum(sizes)
    prop = _task_counts(task_sampled_dataset(split, tasks, 1, 2, seed=0, sampling="proportional"), 3, 2000)
    assert _chi_square(prop, p) < 13.8, f"proportional counts {prop}, expected fractions {p} (2 dof, p<0.001)"
    uni = _task_counts(task_sampled_dataset(split, tasks, 1, 2, seed=0, sampling="uniform"), 3, 2000)
    assert _chi_square(uni, [1 / 3] * 3) < 13.8, f"uniform counts {uni}"
    assert _chi_square(uni, p) > 100, "uniform sampling should not look proportional"


def test_proportional_sampling_draws_distinct_tasks():
    for step in range(50):
        ids = proportional_sample_tasks(tf.constant([3, step], tf.int64), [50, 20, 10, 5], 3).numpy()
        assert len(set(ids.tolist())) == 3 and ids.min() >= 0 and ids.max() < 4
    tasks, split, _ = _sized_tasks([40, 20, 10])
    for features, _, masks in task_sampled_dataset(split, tasks, 2, 3, seed=1, sampling="proportional").take(10):
        task = features["task"].numpy()
        assert task[0] != task[3]
        np.testing.assert_array_equal(masks["t1"].numpy(), (task == 1).astype(np.float32))


def test_bad_sampling_name():
    tasks, split, _ = _sized_tasks([5, 5])
    with pytest.raises(ValueError, match="sampling must be one of"):
        task_sampled_dataset(split, tasks, 1, 2, seed=0, sampling="by_loss")


def test_recommendation_batches_have_position_and_device():
    data = make_recommendation(num_examples=600, seed=0)
    features, labels, masks = next(iter(task_sampled_dataset(data.train, data.tasks, 4, 8, seed=0)))
    assert set(features) == {"x", "position", "device", "task"}
    assert features["position"].dtype == tf.int32 and features["position"].shape == (32,)
    # watch_time is sampled only among clicks: those examples' click labels are 1
    wt = masks["watch_time"].numpy() > 0
    assert wt.sum() == 8 and np.all(labels["click"].numpy()[wt] == 1)


def _data(**features):
    split = Split(features, {"t": np.zeros(4, np.int32)}, {"t": np.ones(4, np.float32)})
    return MultiTaskData("toy", [Task("t", "binary")], split, split, split)


@pytest.mark.parametrize("features, words", [
    ({"x": np.zeros((4, 2), np.float32), "position": np.array([1.0, np.inf, 2, 3])}, "'position' has 1 non-finite"),
    ({"x": np.zeros((4, 2), np.float32), "position": np.arange(3)}, "'position' has shape \\(3,\\)"),
    ({"x": np.zeros((4, 2), np.float32), "task": np.arange(4)}, "'task' is reserved"),
    ({"x": np.zeros((4, 2), np.float32), "user": np.array(["a", "b", "c", "d"])}, "must be numeric"),
])
def test_bad_extra_feature_is_named(features, words):
    with pytest.raises(DataError, match=words):
        validate(_data(**features))


def test_feature_keys_must_match_across_splits():
    data = _data(x=np.zeros((4, 2), np.float32), position=np.arange(4))
    data.test = Split({"x": np.zeros((4, 2), np.float32)}, data.test.labels, data.test.masks)
    with pytest.raises(DataError, match="test split: feature keys \\['x'\\] differ"):
        validate(data)


def test_masks_must_be_zero_or_one():
    data = _data(x=np.zeros((4, 2), np.float32))
    data.train = Split(data.train.features, data.train.labels, {"t": np.array([1, 0.5, 1, 1], np.float32)})
    with pytest.raises(DataError, match="task 't': masks must be 0 or 1"):
        validate(data)


def test_take_carries_extras():
    _, split, _ = _sized_tasks([4, 4])
    part = split.take(np.array([5, 1]))
    np.testing.assert_array_equal(part.extras["secret"], [5, 1])
    np.testing.assert_array_equal(part.features["pos"], [50, 10])


def _xs(batches):
    return [np.asarray(b[0]["x"]) for b in batches]


def test_restored_iterator_continues_with_the_same_batches(tmp_path):
    tasks, split, _ = _sized_tasks([40, 25, 15])
    ds = task_sampled_dataset(split, tasks, 2, 3, seed=5)
    it = iter(ds)
    for _ in range(7):   # not a multiple of the pipeline's block of steps
        next(it)
    path = tf.train.Checkpoint(iterator=it).save(str(tmp_path / "it"))
    expected = _xs([next(it) for _ in range(30)])
    fresh = iter(task_sampled_dataset(split, tasks, 2, 3, seed=5))
    tf.train.Checkpoint(iterator=fresh).restore(path).assert_consumed()
    got = _xs([next(fresh) for _ in range(30)])
    for i, (a, b) in enumerate(zip(expected, got)):
        np.testing.assert_array_equal(b, a, err_msg=f"batch {i} after the restore differs")


def test_batches_are_a_function_of_seed_and_step():
    tasks, split, _ = _sized_tasks([40, 25, 15])
    whole = _xs(task_sampled_dataset(split, tasks, 2, 3, seed=2).take(40))
    for first in (1, 16, 21):
        part = _xs(task_sampled_dataset(split, tasks, 2, 3, seed=2, first_step=first).take(40 - first))
        for i, (a, b) in enumerate(zip(whole[first:], part)):
            np.testing.assert_array_equal(b, a, err_msg=f"first_step={first}: batch of step {first + i} differs")


def test_examples_are_drawn_uniformly_within_their_task():
    tasks, split, owner = _sized_tasks([10, 30])   # task t0 owns rows 0..9
    counts = np.zeros(10)
    for features, _, _ in task_sampled_dataset(split, tasks, 2, 4, seed=3).take(500):
        rows = features["x"].numpy()[:, 0].astype(int)
        task = features["task"].numpy()
        counts += np.bincount(rows[task == 0], minlength=40)[:10]
    assert counts.sum() == 2000, f"expected 4 examples of t0 in each of 500 batches, got {counts.sum()}"
    assert _chi_square(counts, [0.1] * 10) < 27.9, f"t0's rows drawn {counts}, expected about 200 each (9 dof, p<0.001)"
