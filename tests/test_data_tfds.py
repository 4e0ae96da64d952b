"""TFDS sources, offline: the CIFAR-100 fine -> rank mapping, loading through tfds.testing.mock_data,
and the message when the data is absent."""

import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds
from absl import flags
from absl.testing import flagsaver

from mtl_tf.data import DataError, load_dataset, validate
from mtl_tf.data.tfds_sources import COARSE_NAMES, FINE_RANK, FINE_TO_COARSE, cifar_split

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_cifar_task_has_five_distinct_labels_covering_0_to_4():
    assert len(COARSE_NAMES) == 20 and np.bincount(FINE_TO_COARSE).tolist() == [5] * 20
    for c, name in enumerate(COARSE_NAMES):
        fines = np.flatnonzero(FINE_TO_COARSE == c)
        assert sorted(FINE_RANK[fines].tolist()) == [0, 1, 2, 3, 4], f"{name}: ranks {FINE_RANK[fines]}"
        assert np.all(np.diff(FINE_RANK[fines]) == 1), f"{name}: ranks must follow the fine ids' order"
    # the well-known shortcut collides (this is what the test above guards against)
    aquatic = np.flatnonzero(FINE_TO_COARSE == 0)
    assert aquatic.tolist() == [4, 30, 55, 72, 95] and len(set((aquatic % 5).tolist())) < 5


def test_cifar_split_puts_each_image_in_its_superclass_task():
    fine = np.array([4, 30, 95, 0, 83])  # beaver, dolphin, whale (aquatic_mammals); apple, sweet_pepper (fruit)
    split = cifar_split(fine, np.zeros((5, 2, 2, 3), np.float32))
    np.testing.assert_array_equal(split.masks["aquatic_mammals"], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(split.labels["aquatic_mammals"][:3], [0, 1, 4])
    np.testing.assert_array_equal(split.masks["fruit_and_vegetables"], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(split.labels["fruit_and_vegetables"][3:], [0, 4])
    assert sum(split.masks[n].sum() for n in COARSE_NAMES) == 5


def _load_mock(name, num_examples, **flag_values):
    with tfds.testing.mock_data(num_examples=num_examples), flagsaver.flagsaver(**flag_values):
        return load_dataset(name, FLAGS, seed=0, standardize_labels=False)


def test_cifar100_mtl_loads_through_tfds(tmp_path):
    data = _load_mock("cifar100_mtl", 300, data_dir=str(tmp_path))
    assert [t.name for t in data.tasks] == list(COARSE_NAMES)
    assert all(t.kind == "multiclass" and t.num_classes == 5 for t in data.tasks)
    assert data.train.size == 270 and data.validation.size == 30 and data.test.size == 300
    x = data.train.features["x"]
    assert x.shape[1:] == (32, 32, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    masks = np.stack([data.train.masks[n] for n in COARSE_NAMES], axis=1)
    np.testing.assert_array_equal(masks.sum(1), 1)  # one superclass task per image
    fine = data.train.extras["fine_label"]
    own = COARSE_NAMES[FINE_TO_COARSE[fine[0]]]
    assert data.train.labels[own][0] == FINE_RANK[fine[0]]


def test_celeba_loads_40_binary_attributes(tmp_path):
    data = _load_mock("celeba", 6, data_dir=str(tmp_path), tfds_image_size=16)
    assert len(data.tasks) == 40 and all(t.kind == "binary" for t in data.tasks)
    assert "Five_o_Clock_Shadow" in data.task_names and "Smiling" in data.task_names
    assert data.train.features["x"].shape == (6, 16, 16, 3)
    assert all(np.all(data.test.masks[n] == 1) for n in data.task_names)


def test_movielens_has_rating_and_liked_with_id_features(tmp_path):
    data = _load_mock("movielens", 50, data_dir=str(tmp_path))
    assert {t.name: t.kind for t in data.tasks} == {"rating": "regression", "liked": "binary"}
    assert set(data.train.features) == {"x", "user_id", "movie_id"}
    assert data.train.features["user_id"].dtype == np.int32 and data.train.features["x"].ndim == 2
    assert data.train.size + data.validation.size + data.test.size == 50
    for s in data.splits().values():
        np.testing.assert_array_equal(s.labels["liked"], (s.labels["rating"] >= 4).astype(np.int32))


def test_tfds_max_examples_caps_each_split(tmp_path):
    data = _load_mock("cifar100_mtl", 300, data_dir=str(tmp_path), tfds_max_examples=200)
    assert data.train.size + data.validation.size == 200 and data.test.size == 200
    validate(data)


def test_absent_tfds_data_says_how_to_get_it(tmp_path):
    with flagsaver.flagsaver(data_dir=str(tmp_path), download=False):
        with pytest.raises(DataError, match=re.escape(f"tfds build cifar100 --data_dir=DIR")) as e:
            load_dataset("cifar100_mtl", FLAGS, seed=0)
    assert str(tmp_path) in str(e.value) and "--download" in str(e.value)


def test_mtl_train_without_tfds_data_fails_with_a_clear_message(tmp_path, capsys):
    from mtl_tf.train import main
    with flagsaver.flagsaver(dataset="movielens", data_dir=str(tmp_path), steps=1, run_dir=str(tmp_path / "run")):
        with pytest.raises(SystemExit) as e:
            main(["mtl-train"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert "mtl-train: error: TFDS dataset 'movielens/100k-ratings'" in err
    assert "tfds build movielens/100k-ratings" in err


def test_cifar100_mtl_trains_with_shared_bottom(tmp_path):
    from mtl_tf.train import run_training
    with tfds.testing.mock_data(num_examples=300), flagsaver.flagsaver():
        FLAGS(["mtl-train", f"--flagfile={REPO}/flags/data_cifar100_mtl.flags", f"--data_dir={tmp_path}",
               "--steps=5", "--eval_every=0", "--batch_size=4", "--quiet", f"--run_dir={tmp_path}/run"])
        results = run_training(FLAGS)
    assert results["steps"] == 5 and results["traces"] == 1 and sorted(results["tasks"]) == sorted(COARSE_NAMES)
