"""Your own data as a ``MultiTaskData``: numpy arrays, table columns, or a ``tf.data.Dataset``.

    from mtl_tf.data import from_arrays, from_dataframe
    from mtl_tf.tasks import Task
    data = from_arrays(x, {"click": click, "watch_time": minutes}, [Task("click", "binary"),
                       Task("watch_time", "regression")], validation=0.1, test=0.1, seed=0)
    data = from_dataframe(df, features=["age", "hour"], tasks=["click:binary", "watch_time:regression"])

A label that is NaN (an empty cell) is missing: that example's mask for the task is off, so the
task's loss never sees it (the other tasks still train on the example). Tasks are ``Task`` objects,
``(name, kind)`` / ``(name, kind, num_classes)`` tuples or ``"name:kind[:num_classes]"`` strings; a
multiclass task without a class count gets ``max label + 1``. The examples are split at random
(``seed``) into train / validation / test; regression labels are standardized from the training
split (``standardize_labels``). Every problem is a one-line ``DataError`` naming the column or task.

``from_dataset`` reads a ``tf.data.Dataset`` of single examples ``(features, labels)`` or
``(features, labels, masks)`` and, for now, materialises it in memory (numpy) like the built-in
sources; a batched dataset must be ``.unbatch()``-ed first.
"""

from typing import Mapping, Optional, Sequence

import numpy as np

from mtl_tf.data.base import MultiTaskData, Split, split_indices, standardize, validate
from mtl_tf.errors import DataError
from mtl_tf.tasks import KINDS, Task


def parse_task(spec) -> tuple:
    """``(name, kind, num_classes or None)`` from a ``Task``, a tuple or ``"name:kind[:num_classes]"``."""
    if isinstance(spec, Task):
        return spec.name, spec.kind, spec.num_classes or None
    parts = spec.split(":") if isinstance(spec, str) else list(spec)
    if len(parts) not in (2, 3) or not str(parts[0]).strip():
        raise DataError(f"task {spec!r}: write it as name:kind or name:multiclass:num_classes "
                        f"(kinds: {', '.join(KINDS)}).")
    name, kind = str(parts[0]).strip(), str(parts[1]).strip()
    if kind not in KINDS:
        raise DataError(f"task {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}.")
    classes = None
    if len(parts) == 3 and parts[2] is not None:
        try:
            classes = int(parts[2])
        except ValueError:
            raise DataError(f"task {name!r}: the class count {parts[2]!r} is not an integer.") from None
    return name, kind, classes


def _task(name: str, kind: str, classes: Optional[int], present: np.ndarray) -> Task:
    """The ``Task``; a multiclass one without a class count gets max label + 1."""
    if kind == "multiclass" and classes is None:
        classes = int(np.max(present)) + 1 if present.size else 0
    try:
        return Task(name, kind, num_classes=classes if kind == "multiclass" else 0)
    except ValueError as e:
        raise DataError(str(e)) from None


def _numeric(name: str, values, what: str) -> np.ndarray:
    """``values`` as a float64 array; a DataError naming ``what`` ``name`` if it is not numeric."""
    array = np.asarray(values)
    if array.dtype == object or np.issubdtype(array.dtype, np.str_) or np.issubdtype(array.dtype, np.bytes_):
        try:
            array = np.asarray([np.nan if v is None or v == "" else v for v in array.ravel()],
                               np.float64).reshape(array.shape)
        except (TypeError, ValueError):
            bad = next(v for v in array.ravel() if not _is_number(v))
            raise DataError(f"{what} {name!r} is not numeric (value {bad!r}); {what}s must be numbers.") from None
    if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
        raise DataError(f"{what} {name!r} has dtype {array.dtype}; {what}s must be numbers.")
    return array.astype(np.float64)


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return value is None or value == ""


def from_arrays(features, labels, tasks: Sequence, validation: float = 0.1, test: float = 0.1, seed: int = 0,
                masks: Optional[Mapping[str, np.ndarray]] = None, name: str = "arrays",
                standardize_labels: bool = True, description: str = "") -> MultiTaskData:
    """A ``MultiTaskData`` from arrays.

    Args:
      features: ``[N, ...]`` array (the model's ``x``), or ``{key: [N, ...]}`` with an ``"x"`` entry.
      labels: ``{task name: [N]}`` or an ``[N, T]`` array in the order of ``tasks``; NaN = missing.
      tasks: ``Task``s, ``(name, kind[, num_classes])`` tuples or ``"name:kind[:num_classes]"`` strings.
      validation, test: fractions of the examples held out (the rest trains).
      masks: optional ``{task name: [N]}`` 0/1 (default: 1 where the label is not NaN).
    """
    specs = [parse_task(t) for t in tasks]
    names = [s[0] for s in specs]
    if not specs:
        raise DataError("no tasks given: declare at least one, e.g. Task('click', 'binary').")
    if len(set(names)) != len(names):
        raise DataError(f"task names must be unique, got {names}.")
    feature_arrays = dict(features) if isinstance(features, Mapping) else {"x": features}
    if "x" not in feature_arrays:
        raise DataError(f"features {sorted(feature_arrays)} have no 'x' entry (the model's input).")
    feature_arrays = {k: _numeric(k, v, "feature").astype(np.float32) if k == "x" else np.asarray(v)
                      for k, v in feature_arrays.items()}
    n = feature_arrays["x"].shape[0]
    if not isinstance(labels, Mapping):
        matrix = np.asarray(labels)
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise DataError(f"labels of shape {matrix.shape} do not match {len(names)} task(s) {names}: give "
                            "[N, T] or {task name: [N]}.")
        labels = {name: matrix[:, i] for i, name in enumerate(names)}
    missing = [name for name in names if name not in labels]
    if missing:
        raise DataError(f"no labels for task(s) {missing}; labels are given for {sorted(labels)}.")
    built, label_arrays, mask_arrays = [], {}, {}
    for task_name, kind, classes in specs:
        y = _numeric(task_name, labels[task_name], "label column")
        if y.shape != (n,):
            raise DataError(f"task {task_name!r}: labels have shape {y.shape}, but the features have {n} rows.")
        m = (~np.isnan(y)).astype(np.float32) if masks is None else np.asarray(masks[task_name], np.float32)
        m = np.where(np.isnan(y), 0.0, m).astype(np.float32)
        present = y[m > 0]
        if present.size == 0:
            raise DataError(f"task {task_name!r} has no labels (every value is missing).")
        task = _task(task_name, kind, classes, present)
        if kind != "regression" and (np.any(present != np.round(present)) or present.min() < 0):
            raise DataError(f"task {task_name!r} is {kind}, but its labels are not class ids 0, 1, ... "
                            f"(values in [{present.min():g}, {present.max():g}]); declare it name:regression?")
        built.append(task)
        label_arrays[task_name] = np.where(m > 0, y, 0).astype(task.label_dtype)
        mask_arrays[task_name] = m
    whole = Split(feature_arrays, label_arrays, mask_arrays)
    train, val, tst = (whole.take(i) for i in split_indices(n, (1.0 - validation - test, validation, test), seed))
    data = MultiTaskData(name, built, train, val, tst,
                         description=description or f"your data: {n} examples, {len(built)} tasks")
    validate(data)
    return standardize(data, enabled=standardize_labels)


def from_dataframe(frame, features: Sequence[str], tasks: Sequence, **kwargs) -> MultiTaskData:
    """``from_arrays`` from the columns of ``frame`` (a pandas ``DataFrame``, or any mapping of column
    name -> 1-D array): ``x`` stacks the ``features`` columns, each task's labels are the column of
    its name (NaN or an empty cell = missing). ``kwargs`` go to ``from_arrays``."""
    specs = [parse_task(t) for t in tasks]
    columns = list(frame.column_names) if hasattr(frame, "column_names") else list(frame.keys())
    if not features:
        raise DataError("no feature columns given (--features): name the columns the model reads.")
    for column, what in [(c, "feature") for c in features] + [(s[0], "task") for s in specs]:
        if column not in columns:
            raise DataError(f"{what} column {column!r} is not in the data (columns: {', '.join(map(str, columns))}).")
    x = np.stack([_numeric(c, np.asarray(frame[c]), "feature column") for c in features], axis=1)
    for i, column in enumerate(features):
        gaps = np.flatnonzero(~np.isfinite(x[:, i]))
        if gaps.size:
            raise DataError(f"feature column {column!r} has {gaps.size} missing or non-finite value(s) (first in "
                            f"data row {gaps[0] + 1}); only labels may be missing.")
    labels = {s[0]: np.asarray(frame[s[0]]) for s in specs}
    return from_arrays(x, labels, specs, **kwargs)


def from_dataset(dataset, tasks: Sequence, **kwargs) -> MultiTaskData:
    """``from_arrays`` from a ``tf.data.Dataset`` of single examples ``(features, labels)`` or
    ``(features, labels, masks)``: features a tensor (``x``) or ``{key: tensor}``, labels and masks
    ``{task name: scalar}`` (a NaN label = missing). The dataset is read once into memory."""
    import tensorflow as tf
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise DataError("the dataset's elements must be (features, labels) or (features, labels, masks).")
    chunks = list(dataset.batch(4096).as_numpy_iterator())
    if not chunks:
        raise DataError("the dataset is empty.")

    def stacked(i):
        parts = [c[i] for c in chunks]
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return np.concatenate(parts)

    features, labels = stacked(0), stacked(1)
    masks = stacked(2) if len(spec) == 3 else None
    if isinstance(spec[1], tf.TensorSpec):
        raise DataError("labels must be a dict {task name: label} (one entry per task).")
    return from_arrays(features, labels, tasks, masks=masks, **kwargs)


__all__ = ["from_arrays", "from_dataframe", "from_dataset", "parse_task"]
