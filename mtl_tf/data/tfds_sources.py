"""TFDS sources for real data: multi-task CIFAR-100, CelebA attributes, MovieLens 100k.

Each is read with ``tfds.load(name, data_dir=data_dir, download=download)`` (``OPTIONS``) into numpy
(all of it in memory; ``--tfds_max_examples`` caps every TFDS split). When the data is not
there, a ``DataError`` says how to get it. Offline tests use ``tfds.testing.mock_data``.

* ``cifar100_mtl``: 20 tasks, one per CIFAR-100 superclass (coarse class); each is a 5-way
  classification of the superclass's fine classes, the label being the fine class's rank
  among its superclass's fine ids (``FINE_RANK``). Each image belongs to the one task of its
  superclass (multi-task classification: only that mask is on). x: [32, 32, 3] in [0, 1].
* ``celeba``: 40 binary attribute tasks on the same face (multi-label, every mask on);
  x: the centre 178x178 crop resized to ``--tfds_image_size`` squared, in [0, 1].
* ``movielens``: ``movielens/100k-ratings``; ``rating`` (regression, stars) and ``liked``
  (binary, rating >= 4) on every rating. Features ``user_id`` and ``movie_id`` (int32, dense
  ids in order of first sorted appearance) and x = [genre multi-hot, gender, age / 56,
  occupation one-hot].
"""

import contextlib
import logging

import numpy as np

from mtl_tf.data.base import DataError, MultiTaskData, Split, split_indices
from mtl_tf.tasks import Task

# what the loaders read from their options (``fv``): the TFDS folder, whether TFDS may download, a cap
# on the examples read per split (0: all), CelebA's image side
OPTIONS = {"data_dir": None, "download": False, "tfds_max_examples": 0, "tfds_image_size": 32}

# CIFAR-100 superclass (coarse label) of each fine label 0..99 (Krizhevsky 2009, the dataset's meta file).
FINE_TO_COARSE = np.array([
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13])
COARSE_NAMES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man_made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non_insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
    "vehicles_1", "vehicles_2")
# Rank of each fine label among the fine labels of its superclass (0..4). NOT fine % 5: for
# aquatic_mammals (fine 4, 30, 55, 72, 95) that gives 4, 0, 0, 2, 0 -- three classes collide.
FINE_RANK = np.array([int(np.sum(FINE_TO_COARSE[:f] == FINE_TO_COARSE[f])) for f in range(100)])
CELEBA_RENAME = {"5_o_Clock_Shadow": "Five_o_Clock_Shadow"}  # task names must start with a letter


class _NoVariantFolderWarnings(logging.Filter):
    """Drops TFDS's "Variant folder .../<version> has no dataset_info.json" warning: TFDS logs it while
    it looks for prepared data, even about a folder that does not exist; the DataError below says
    what is missing and how to get it."""

    def filter(self, record):
        message = record.getMessage()
        return not (message.startswith("Variant folder") and "dataset_info.json" in message)


@contextlib.contextmanager
def _without_variant_folder_warnings():
    from absl import logging as absl_logging
    logger, quiet = absl_logging.get_absl_logger(), _NoVariantFolderWarnings()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _load(name: str, split: str, fv, with_info: bool = False):
    """``tfds.load`` with a DataError that says how to get the data when it is missing."""
    import tensorflow_datasets as tfds
    try:
        with _without_variant_folder_warnings():
            return tfds.load(name, split=split, data_dir=fv.data_dir, download=fv.download,
                             shuffle_files=False, with_info=with_info)
    except Exception as e:  # noqa: BLE001 - TFDS raises several types for "not there"
        where = fv.data_dir or "TFDS's default folder (~/tensorflow_datasets)"
        raise DataError(
            f"TFDS dataset {name!r} ({split} split) could not be loaded from {where}: {str(e).splitlines()[0]}\n"
            f"  Get it once with `tfds build {name} --data_dir=DIR` (or add --download to let mtl-train fetch "
            f"it), then pass --data_dir=DIR; or copy an already prepared {name}/<version>/ folder into DIR. "
            f"Offline sources need no download: --dataset=correlated_regression, recommendation, images, "
            f"families.") from e


def _arrays(ds, fv, preprocess) -> dict:
    """Whole dataset -> {key: numpy array}, after ``preprocess`` (a per-example tf function)."""
    import tensorflow_datasets as tfds
    if fv.tfds_max_examples:
        ds = ds.take(fv.tfds_max_examples)
    chunks = list(tfds.as_numpy(ds.map(preprocess).batch(1024)))
    if not chunks:
        raise DataError("a TFDS split is empty.")
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def _split_off(whole: Split, seed: int, fractions):
    return [whole.take(i) for i in split_indices(whole.size, fractions, seed)]


# ---- CIFAR-100 -------------------------------------------------------------------------
def cifar_split(fine: np.ndarray, x: np.ndarray) -> Split:
    """Images with fine labels -> the 20 superclass tasks (only the own superclass's mask on)."""
    fine = np.asarray(fine, np.int64)
    coarse, rank = FINE_TO_COARSE[fine], FINE_RANK[fine]
    return Split({"x": x},
                 {name: np.where(coarse == c, rank, 0).astype(np.int32) for c, name in enumerate(COARSE_NAMES)},
                 {name: (coarse == c).astype(np.float32) for c, name in enumerate(COARSE_NAMES)},
                 {"fine_label": fine.astype(np.int32), "coarse_label": coarse.astype(np.int32)})


def load_cifar100(fv, seed: int) -> MultiTaskData:
    """``--dataset=cifar100_mtl``: TFDS train -> train/validation (90/10), TFDS test -> test."""
    import tensorflow as tf

    def prep(ex):
        return {"x": tf.cast(ex["image"], tf.float32) / 255.0, "fine": ex["label"]}

    parts = []
    for split in ("train", "test"):
        a = _arrays(_load("cifar100", split, fv), fv, prep)
        parts.append(cifar_split(a["fine"], a["x"]))
    train, validation = _split_off(parts[0], seed, (0.9, 0.1, 0.0))[:2]
    tasks = [Task(name, "multiclass", num_classes=5) for name in COARSE_NAMES]
    return MultiTaskData("cifar100_mtl", tasks, train, validation, parts[1],
                         description="CIFAR-100 as 20 tasks (one per superclass), 5-way over its fine classes")


# ---- CelebA ----------------------------------------------------------------------------
def load_celeba(fv, seed: int) -> MultiTaskData:
    """``--dataset=celeba``: TFDS's own train / validation / test splits, 40 binary tasks."""
    import tensorflow as tf
    size = fv.tfds_image_size

    def prep(ex):
        image = tf.image.resize_with_crop_or_pad(ex["image"], 178, 178)
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, [size, size])
        return {"x": tf.clip_by_value(image, 0.0, 1.0),
                **{CELEBA_RENAME.get(k, k): tf.cast(v, tf.int32) for k, v in ex["attributes"].items()}}

    splits = []
    for split in ("train", "validation", "test"):
        a = _arrays(_load("celeb_a", split, fv), fv, prep)
        names = sorted(k for k in a if k != "x")
        n = a["x"].shape[0]
        splits.append(Split({"x": a["x"]}, {k: a[k] for k in names}, {k: np.ones(n, np.float32) for k in names}))
    tasks = [Task(name, "binary") for name in sorted(splits[0].labels)]
    return MultiTaskData("celeba", tasks, *splits,
                         description=f"CelebA, {len(tasks)} binary attributes, {size}x{size} RGB faces")


# ---- MovieLens -------------------------------------------------------------------------
def load_movielens(fv, seed: int) -> MultiTaskData:
    """``--dataset=movielens``: 100k ratings split 80/10/10 by seed; rating and liked tasks."""
    import tensorflow as tf
    ds, info = _load("movielens/100k-ratings", "train", fv, with_info=True)
    num_genres = info.features["movie_genres"].feature.num_classes
    num_jobs = info.features["user_occupation_label"].num_classes

    def prep(ex):
        genres = tf.reduce_max(tf.one_hot(ex["movie_genres"], num_genres), axis=0)
        genres = tf.reshape(genres, [num_genres])  # an empty genre list gives zeros
        x = tf.concat([genres, [tf.cast(ex["user_gender"], tf.float32), ex["bucketized_user_age"] / 56.0],
                       tf.one_hot(ex["user_occupation_label"], num_jobs)], axis=0)
        return {"x": x, "user": ex["user_id"], "movie": ex["movie_id"], "rating": ex["user_rating"]}

    a = _arrays(ds, fv, prep)
    n = a["x"].shape[0]
    user = np.unique(a["user"], return_inverse=True)[1].astype(np.int32)
    movie = np.unique(a["movie"], return_inverse=True)[1].astype(np.int32)
    rating = a["rating"].astype(np.float32)
    whole = Split({"x": a["x"].astype(np.float32), "user_id": user, "movie_id": movie},
                  {"rating": rating, "liked": (rating >= 4).astype(np.int32)},
                  {"rating": np.ones(n, np.float32), "liked": np.ones(n, np.float32)})
    train, validation, test = _split_off(whole, seed, (0.8, 0.1, 0.1))
    return MultiTaskData("movielens", [Task("rating", "regression"), Task("liked", "binary")],
                         train, validation, test,
                         description=f"MovieLens 100k: {n} ratings, {user.max() + 1} users, "
                                     f"{movie.max() + 1} movies; rating regression and rating >= 4")
