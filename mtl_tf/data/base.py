"""In-memory multi-task datasets: splits, validation and label standardization.

A split holds, for N examples:

* ``features``: ``{"x": [N, *input_shape] float32, ...}`` (extra feature keys allowed);
* ``labels``: ``{task name: [N]}`` raw labels (original units / class ids);
* ``masks``: ``{task name: [N] float32}``, 1 where the example has that task's label;
* ``extras``: ``{name: [N, ...]}`` per-example arrays that are NOT model inputs (e.g. the true
  relevance and query id of a recommendation log, for a ranking evaluator). Empty by default.

Every feature key is fed to the model next to ``"task"`` (so no feature may be called "task").

Joint (multi-label) data has every mask on; a multi-task classification source has,
for each example, only its own task's mask on; a missing label is a mask off.
"""

import dataclasses
from typing import Dict, List

RESERVED_FEATURES = ("task",)  # added by the pipelines

import numpy as np

from mtl_tf.errors import DataError  # noqa: F401  (re-exported: mtl_tf.data.DataError)
from mtl_tf.tasks import Task, check_task_names


@dataclasses.dataclass
class Split:
    features: Dict[str, np.ndarray]
    labels: Dict[str, np.ndarray]
    masks: Dict[str, np.ndarray]
    extras: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.features["x"].shape[0])

    def take(self, index) -> "Split":
        """The examples at ``index`` (an int array or slice)."""
        return Split({k: v[index] for k, v in self.features.items()},
                     {k: v[index] for k, v in self.labels.items()},
                     {k: v[index] for k, v in self.masks.items()},
                     {k: v[index] for k, v in self.extras.items()})


@dataclasses.dataclass
class MultiTaskData:
    name: str
    tasks: List[Task]
    train: Split
    validation: Split
    test: Split
    description: str = ""

    @property
    def input_shape(self):
        return tuple(self.train.features["x"].shape[1:])

    @property
    def task_names(self):
        return [t.name for t in self.tasks]

    def splits(self):
        return {"train": self.train, "validation": self.validation, "test": self.test}


def concat_splits(splits) -> Split:
    """One split holding the examples of ``splits`` (same keys) one after another."""
    def cat(field):
        return {k: np.concatenate([getattr(s, field)[k] for s in splits]) for k in getattr(splits[0], field)}
    return Split(cat("features"), cat("labels"), cat("masks"), cat("extras"))


def split_indices(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0):
    """Disjoint train/validation/test index arrays covering range(n), shuffled by seed."""
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


def validate(data: MultiTaskData) -> None:
    """Raise DataError naming the task (and split) for any problem a run would trip on later."""
    try:
        check_task_names(data.tasks)
    except ValueError as e:
        raise DataError(f"dataset {data.name!r}: {e}") from e
    names = set(data.task_names)
    reference = {k: (np.asarray(v).shape[1:], np.asarray(v).dtype) for k, v in data.train.features.items()}
    for split_name, split in data.splits().items():
        where = f"dataset {data.name!r}, {split_name} split"
        if "x" not in split.features:
            raise DataError(f"{where}: features have no 'x' entry.")
        n = split.size
        if n == 0:
            raise DataError(f"{where}: the split has no examples.")
        for key in ("labels", "masks"):
            got = set(getattr(split, key))
            if got != names:
                raise DataError(f"{where}: {key} are for tasks {sorted(got)} but the tasks are {sorted(names)}.")
        got = {k: (np.asarray(v).shape[1:], np.asarray(v).dtype) for k, v in split.features.items()}
        if sorted(got) != sorted(reference):
            raise DataError(f"{where}: feature keys {sorted(got)} differ from the train split's {sorted(reference)}.")
        for key, (shape, dtype) in got.items():
            if (shape, dtype) != reference[key]:
                raise DataError(f"{where}: feature {key!r} is {dtype} with per-example shape {shape}, but in "
                                f"the train split it is {reference[key][1]} with shape {reference[key][0]}.")
        for key in RESERVED_FEATURES:
            if key in split.features:
                raise DataError(f"{where}: feature key {key!r} is reserved (the pipelines add it); rename it.")
        for group, arrays in (("feature", split.features), ("extra", split.extras)):
            for key, value in arrays.items():
                value = np.asarray(value)
                if value.ndim == 0 or value.shape[0] != n:
                    raise DataError(f"{where}: {group} {key!r} has shape {value.shape}, but 'x' has {n} rows.")
                if group == "feature" and not (np.issubdtype(value.dtype, np.number)
                                               or np.issubdtype(value.dtype, np.bool_)):
                    raise DataError(f"{where}: feature {key!r} has dtype {value.dtype}; features must be numeric.")
                if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                    bad = int(np.sum(~np.isfinite(value)))
                    raise DataError(f"{where}: {group} {key!r} has {bad} non-finite values (NaN or inf).")
        for task in data.tasks:
            y, m = np.asarray(split.labels[task.name]), np.asarray(split.masks[task.name])
            if y.shape != (n,) or m.shape != (n,):
                raise DataError(f"{where}, task {task.name!r}: labels {y.shape} and mask {m.shape} "
                                f"must both have shape ({n},).")
            if not np.all((m == 0) | (m == 1)):
                raise DataError(f"{where}, task {task.name!r}: masks must be 0 or 1, got values "
                                f"{sorted(set(np.unique(m).tolist()) - {0.0, 1.0})[:5]}.")
            present = y[m > 0]
            if task.kind == "regression":
                if not np.all(np.isfinite(present)):
                    raise DataError(f"{where}, task {task.name!r}: regression labels contain NaN or inf.")
            else:
                high = 2 if task.kind == "binary" else task.num_classes
                if present.size and (not np.all(np.isfinite(present.astype(np.float64)))
                                     or present.min() < 0 or present.max() >= high
                                     or np.any(present != np.round(present))):
                    raise DataError(f"{where}, task {task.name!r}: {task.kind} labels must be integers in "
                                    f"[0, {high}), got values in [{present.min()}, {present.max()}].")
            if split_name == "train" and present.size == 0:
                raise DataError(f"{where}, task {task.name!r}: no training examples have this task's label.")


def standardize(data: MultiTaskData, enabled: bool = True) -> MultiTaskData:
    """Set each regression task's label mean/scale from its training labels (slide 20's tip).

    With ``enabled=False`` every task keeps (0, 1): labels are trained on their raw scale.
    """
    tasks = []
    for task in data.tasks:
        if task.kind == "regression" and enabled:
            y = data.train.labels[task.name][data.train.masks[task.name] > 0].astype(np.float64)
            scale = float(y.std()) if y.size > 1 and y.std() > 0 else 1.0
            task = task.standardized(float(y.mean()), scale)
        elif task.kind == "regression":
            task = task.standardized(0.0, 1.0)
        tasks.append(task)
    return dataclasses.replace(data, tasks=tasks)
