"""Where batches come from: named sources (``--dataset``) and the tf.data pipelines.

``DATASETS`` maps each ``--dataset`` value to a loader ``(flag_values, seed) -> MultiTaskData``.
``load_dataset`` loads, validates and standardizes; it is the only entry point the trainer uses.
"""

import dataclasses
from typing import Callable, Dict

from mtl_tf.data import correlated
from mtl_tf.data.base import DataError, MultiTaskData, Split, standardize, validate
from mtl_tf.data.pipeline import joint_dataset, task_sampled_dataset


@dataclasses.dataclass(frozen=True)
class Source:
    loader: Callable
    doc: str


DATASETS: Dict[str, Source] = {
    "correlated_regression": Source(correlated.load,
                                    "two regression tasks with a set correlation (MMoE synthetic); no download"),
}


def load_dataset(name: str, flag_values, seed: int, standardize_labels: bool = True) -> MultiTaskData:
    """Load ``--dataset=name``, check it (DataError naming the task) and standardize labels."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    data = DATASETS[name].loader(flag_values, seed)
    validate(data)
    return standardize(data, enabled=standardize_labels)


__all__ = ["DATASETS", "DataError", "MultiTaskData", "Split", "load_dataset", "joint_dataset",
           "task_sampled_dataset", "validate", "standardize"]
