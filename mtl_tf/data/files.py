"""``--dataset=csv``: your own file -- CSV, Parquet or TFRecord, chosen by the file's extension.

Options (``OPTIONS``; the flags of the same names): ``data_path`` (the file), ``tasks``
(``name:kind[:num_classes]`` each, e.g. ``click:binary,watch_time:regression``), ``features`` (the
numeric columns stacked into the model's ``x``; for TFRecord ``name`` or ``name:length``, a float
feature of that length), ``validation_fraction`` and ``test_fraction``. An empty cell (CSV), a null
(Parquet) or an absent feature (TFRecord) is a missing label. The examples become a ``MultiTaskData``
through ``mtl_tf.data.custom.from_arrays``, so every problem -- a column that is not there, a kind
that does not exist, a task with no label, a feature that is not a number -- is one ``DataError``
line naming the flag or column.

* ``.csv`` (and ``.tsv``): read with Python's ``csv`` module (no extra package); the first row names
  the columns.
* ``.parquet`` / ``.pq``: read with pyarrow (``pip install -e '.[parquet]'``).
* ``.tfrecord`` / ``.tfrec``: ``tf.train.Example`` records; the feature spec is derived from
  ``features`` (float features, ``FixedLenFeature``) and ``tasks`` (one float per task, NaN when absent).
"""

import csv
import os

import numpy as np

from mtl_tf.data.custom import from_dataframe, parse_task
from mtl_tf.errors import DataError

OPTIONS = {"data_path": None, "tasks": None, "features": None, "validation_fraction": 0.1, "test_fraction": 0.1}
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".tfrecord": "tfrecord",
              ".tfrec": "tfrecord"}


def read_csv(path: str) -> dict:
    """{column: list of strings} of a CSV (or tab-separated) file with a header row."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t" if path.endswith(".tsv") else ","))
    if not rows:
        raise DataError(f"--data_path={path} is empty (a CSV needs a header row naming the columns).")
    header = [h.strip() for h in rows[0]]
    width = len(header)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width and any(cell.strip() for cell in row):
            raise DataError(f"--data_path={path}, line {number}: {len(row)} cells, but the header has {width}.")
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    return {name: np.asarray([row[i].strip() for row in body], dtype=object) for i, name in enumerate(header)}


def read_parquet(path: str) -> dict:
    """{column: array} of a Parquet file (nulls become NaN / None)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"--data_path={path}: reading Parquet needs pyarrow (pip install -e '.[parquet]').") from None
    table = pq.read_table(path)
    return {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}


def feature_spec(features, tasks) -> dict:
    """The ``tf.io.parse_example`` spec of a TFRecord file: ``name[:length]`` float features, one float
    per task (NaN where the record has none)."""
    import tensorflow as tf
    spec = {}
    for item in features:
        name, _, length = item.partition(":")
        try:
            shape = [int(length)] if length else []
        except ValueError:
            raise DataError(f"--features: {item!r} is not name or name:length.") from None
        spec[name] = tf.io.FixedLenFeature(shape, tf.float32)
    for task in tasks:
        spec[parse_task(task)[0]] = tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))
    return spec


def read_tfrecord(path: str, features, tasks) -> dict:
    """{column: array} of a TFRecord file of ``tf.train.Example``s, parsed with ``feature_spec``; a
    ``name:length`` feature becomes ``length`` columns ``name[0]``, ``name[1]``, ..."""
    import tensorflow as tf
    spec = feature_spec(features, tasks)
    try:
        chunks = list(tf.data.TFRecordDataset(path).batch(4096)
                      .map(lambda b: tf.io.parse_example(b, spec)).as_numpy_iterator())
    except tf.errors.OpError as e:
        raise DataError(f"--data_path={path}: cannot parse it with the feature spec of --features and --tasks "
                        f"({' '.join(str(e.message).split())[:200]}).") from None
    if not chunks:
        raise DataError(f"--data_path={path} holds no records.")
    out = {}
    for key in spec:
        value = np.concatenate([c[key] for c in chunks])
        if value.ndim == 2:
            out.update({f"{key}[{i}]": value[:, i] for i in range(value.shape[1])})
        else:
            out[key] = value
    return out


def _columns_of(features, kind: str):
    """The feature columns: for TFRecord a ``name:length`` feature stands for its ``length`` columns."""
    if kind != "tfrecord":
        return list(features)
    out = []
    for item in features:
        name, _, length = item.partition(":")
        out += [f"{name}[{i}]" for i in range(int(length))] if length else [name]
    return out


def load(fv, seed: int):
    """The ``--dataset=csv`` source; ``fv`` has the attributes of ``OPTIONS``."""
    path, tasks, features = fv.data_path, list(fv.tasks or []), list(fv.features or [])
    if not path:
        raise DataError("--dataset=csv needs --data_path=FILE (.csv, .parquet or .tfrecord).")
    if not tasks:
        raise DataError("--dataset=csv needs --tasks=name:kind,... (e.g. click:binary,watch_time:regression).")
    if not features:
        raise DataError("--dataset=csv needs --features=column,... (the numeric columns the model reads).")
    kind = EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise DataError(f"--data_path={path}: unknown file type; use .csv, .tsv, .parquet, .pq, .tfrecord or .tfrec.")
    if not os.path.isfile(path):
        raise DataError(f"--data_path={path}: no such file.")
    try:
        specs = [parse_task(t) for t in tasks]
    except DataError as e:
        raise DataError(f"--tasks: {e}") from None
    frame = (read_csv(path) if kind == "csv" else read_parquet(path) if kind == "parquet"
             else read_tfrecord(path, features, tasks))
    columns = _columns_of(features, kind)
    have = ", ".join(frame)
    for column in columns:
        if column not in frame:
            raise DataError(f"--features: column {column!r} is not in {path} (its columns: {have}).")
    for name, _, _ in specs:
        if name not in frame:
            raise DataError(f"--tasks: task {name!r} has no column of that name in {path} (its columns: {have}).")
    try:
        return from_dataframe(frame, columns, specs, validation=fv.validation_fraction, test=fv.test_fraction,
                              seed=seed, name=os.path.basename(path), standardize_labels=False,
                              description=f"{os.path.basename(path)}: {len(columns)} feature column(s), tasks "
                                          f"{', '.join(s[0] + '/' + s[1] for s in specs)}")
    except DataError as e:
        raise DataError(f"--data_path={path}: {e}") from None
