"""Where batches come from: named sources (``--dataset``), your own data, and the tf.data pipelines.

``DATASETS`` maps each ``--dataset`` value to a ``Source``: its loader ``(options, seed) ->
MultiTaskData`` and the names of ``OPTIONS`` it reads. ``load_dataset(name, seed=0, **options)``
loads, validates and standardizes; it is the only entry point the trainer uses. ``options`` are
keywords of ``OPTIONS`` (e.g. ``load_dataset("families", relatedness=-1.0, family_tasks=6)``), or
``values``: an object with those attributes (the apps pass their parsed flags).
Offline sources (no download): ``correlated_regression``, ``recommendation``, ``images``,
``families``; TFDS sources (``data_dir``): ``cifar100_mtl``, ``celeba``, ``movielens``; your own
file: ``csv`` (``mtl_tf.data.files``). Your own arrays, columns or ``tf.data.Dataset``:
``from_arrays``, ``from_dataframe``, ``from_dataset`` (``mtl_tf.data.custom``).
``mtl-data list`` / ``mtl-data describe NAME`` print them (``mtl_tf.data.describe``).

Pipelines: ``task_sampled_dataset(..., sampling="uniform"|"proportional")`` and ``joint_dataset``;
both carry every feature key of the split unless ``feature_keys`` names the model's inputs.
"""

import dataclasses
from typing import Callable, Dict

from mtl_tf.data import correlated, families, files, images, recommendation, tfds_sources
from mtl_tf.data.base import DataError, MultiTaskData, Split, standardize, validate
from mtl_tf.data.custom import from_arrays, from_dataframe, from_dataset
from mtl_tf.data.pipeline import SAMPLING, joint_dataset, task_sampled_dataset
from mtl_tf.options import resolve


@dataclasses.dataclass(frozen=True)
class Source:
    """A ``--dataset`` value: ``loader(options, seed)`` reads the attributes ``options`` of ``OPTIONS``."""
    loader: Callable
    doc: str
    offline: bool = True  # generated here, no download
    options: tuple = ()
    kind: str = ""        # what ``mtl-data list`` says: offline (generated here), TFDS, or file (yours)

    @property
    def label(self) -> str:
        return self.kind or ("offline" if self.offline else "TFDS")


def _merged(*declared) -> dict:
    """The sources' ``OPTIONS`` in one dict; an option two sources share must have one default."""
    out = {}
    for d in declared:
        for name, default in d.items():
            if out.get(name, default) != default:
                raise AssertionError(f"data option {name!r} has two defaults: {out[name]!r} and {default!r}")
            out[name] = default
    return out


# every option a source reads, with its default (the apps' data flags take theirs from here)
OPTIONS = _merged(correlated.OPTIONS, families.OPTIONS, images.OPTIONS, recommendation.OPTIONS, tfds_sources.OPTIONS,
                  files.OPTIONS)


DATASETS: Dict[str, Source] = {
    "correlated_regression": Source(correlated.load,
                                    "two regression tasks with a set correlation (MMoE synthetic); no download",
                                    options=tuple(correlated.OPTIONS)),
    "recommendation": Source(recommendation.load,
                             "recommendation log with position bias: click, watch_time, like, rating "
                             "(mixed kinds, partial labels); no download", options=tuple(recommendation.OPTIONS)),
    "images": Source(images.load, "procedural multi-label RGB shapes, one multiclass task per attribute; "
                                  "no download", options=tuple(images.OPTIONS)),
    "families": Source(families.load, "binary task families with their own p(x) and --relatedness of their "
                                      "rules (multi-task classification); no download",
                       options=tuple(families.OPTIONS)),
    "cifar100_mtl": Source(tfds_sources.load_cifar100, "CIFAR-100, 20 superclass tasks of 5 classes (TFDS)",
                           offline=False, options=tuple(tfds_sources.OPTIONS)),
    "celeba": Source(tfds_sources.load_celeba, "CelebA, 40 binary attributes (TFDS)", offline=False, options=tuple(tfds_sources.OPTIONS)),
    "movielens": Source(tfds_sources.load_movielens, "MovieLens 100k: rating regression and rating >= 4 "
                                                     "(TFDS)", offline=False, options=tuple(tfds_sources.OPTIONS)),
    "csv": Source(files.load, "your own file, CSV, Parquet or TFRecord by its extension: --data_path, --tasks=name:kind,"
                              "..., --features=column,... (an empty cell is a missing label)", offline=False,
                  options=tuple(files.OPTIONS), kind="file"),
}


def load_dataset(name: str, values=None, seed: int = 0, standardize_labels: bool = True,
                 **options) -> MultiTaskData:
    """Load the source ``name`` with ``options`` (keywords of ``OPTIONS``; the rest from ``values``'s
    attributes, else their defaults; those the source does not read are ignored), check it (DataError
    naming the task) and standardize labels."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    source = DATASETS[name]
    chosen = resolve(OPTIONS, values, options, "data option")   # options another source reads are ignored
    data = source.loader(resolve({k: OPTIONS[k] for k in source.options}, chosen), seed)
    validate(data)
    return standardize(data, enabled=standardize_labels)


__all__ = ["DATASETS", "OPTIONS", "SAMPLING", "DataError", "MultiTaskData", "Split", "from_arrays", "from_dataframe",
           "from_dataset", "load_dataset", "joint_dataset",
           "task_sampled_dataset", "validate", "standardize"]
