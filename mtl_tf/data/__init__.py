"""Where batches come from: named sources (``--dataset``) and the tf.data pipelines.

``DATASETS`` maps each ``--dataset`` value to a loader ``(flag_values, seed) -> MultiTaskData``.
``load_dataset`` loads, validates and standardizes; it is the only entry point the trainer uses.
Offline sources (no download): ``correlated_regression``, ``recommendation``, ``images``,
``families``; TFDS sources (``--data_dir``): ``cifar100_mtl``, ``celeba``, ``movielens``.
``mtl-data list`` / ``mtl-data describe NAME`` print them (``mtl_tf.data.describe``).

Pipelines: ``task_sampled_dataset(..., sampling=FLAGS.task_sampling)`` (``--task_sampling``,
defined in ``pipeline.py``: uniform | proportional) and ``joint_dataset``; both carry every
feature key of the split unless ``feature_keys`` names the model's inputs.
"""

import dataclasses
from typing import Callable, Dict

from mtl_tf.data import correlated, families, images, recommendation, tfds_sources
from mtl_tf.data.base import DataError, MultiTaskData, Split, standardize, validate
from mtl_tf.data.pipeline import SAMPLING, joint_dataset, task_sampled_dataset


@dataclasses.dataclass(frozen=True)
class Source:
    loader: Callable
    doc: str
    offline: bool = True  # generated here, no download


DATASETS: Dict[str, Source] = {
    "correlated_regression": Source(correlated.load,
                                    "two regression tasks with a set correlation (MMoE synthetic); no download"),
    "recommendation": Source(recommendation.load,
                             "recommendation log with position bias: click, watch_time, like, rating "
                             "(mixed kinds, partial labels); no download"),
    "images": Source(images.load, "procedural multi-label RGB shapes, one multiclass task per attribute; "
                                  "no download"),
    "families": Source(families.load, "binary task families with their own p(x) and --relatedness of their "
                                      "rules (multi-task classification); no download"),
    "cifar100_mtl": Source(tfds_sources.load_cifar100, "CIFAR-100, 20 superclass tasks of 5 classes (TFDS)",
                           offline=False),
    "celeba": Source(tfds_sources.load_celeba, "CelebA, 40 binary attributes (TFDS)", offline=False),
    "movielens": Source(tfds_sources.load_movielens, "MovieLens 100k: rating regression and rating >= 4 "
                                                     "(TFDS)", offline=False),
}


def load_dataset(name: str, flag_values, seed: int, standardize_labels: bool = True) -> MultiTaskData:
    """Load ``--dataset=name``, check it (DataError naming the task) and standardize labels."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    data = DATASETS[name].loader(flag_values, seed)
    validate(data)
    return standardize(data, enabled=standardize_labels)


__all__ = ["DATASETS", "SAMPLING", "DataError", "MultiTaskData", "Split", "load_dataset", "joint_dataset",
           "task_sampled_dataset", "validate", "standardize"]
