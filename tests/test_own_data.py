"""Your own data (issue 17): numpy arrays, table columns and tf.data datasets become a MultiTaskData with
NaN as a missing label; --dataset=csv trains on a CSV / Parquet / TFRecord file from the command line,
with one-line errors naming the flag or column."""

import json
import math

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

from conftest import run_script
from mtl_tf.data import DataError, from_arrays, from_dataframe, from_dataset, load_dataset
from mtl_tf.tasks import Task

FLAGS = flags.FLAGS
TASKS = [Task("click", "binary"), Task("watch_time", "regression")]


def _table(n=200, seed=0):
    """Columns a, b (features), click (binary, every row), watch_time (regression, NaN where not clicked)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    click = (a + 0.3 * rng.normal(size=n) > 0).astype(float)
    watch = np.where(click > 0, 3.0 + 2.0 * b, np.nan)
    return {"a": a, "b": b, "click": click, "watch_time": watch}


def test_from_arrays_keeps_labels_and_masks_missing_ones():
    t = _table()
    x = np.stack([t["a"], t["b"]], axis=1)
    data = from_arrays(x, {"click": t["click"], "watch_time": t["watch_time"]}, TASKS, validation=0.1, test=0.2,
                       seed=0, standardize_labels=False)
    assert (data.train.size, data.validation.size, data.test.size) == (140, 20, 40)
    assert [(k.name, k.kind) for k in data.tasks] == [("click", "binary"), ("watch_time", "regression")]
    every = [data.train, data.validation, data.test]
    xs = np.concatenate([s.features["x"] for s in every])
    order = np.lexsort(xs.T[::-1])
    np.testing.assert_allclose(xs[order], x[np.lexsort(x.T[::-1])].astype(np.float32))   # every row, once
    for s in every:
        rows = [np.flatnonzero(np.all(x.astype(np.float32) == r, axis=1))[0] for r in s.features["x"]]
        np.testing.assert_array_equal(s.masks["watch_time"], ~np.isnan(t["watch_time"][rows]))
        np.testing.assert_array_equal(s.masks["click"], 1.0)
        kept = s.masks["watch_time"] > 0
        np.testing.assert_allclose(s.labels["watch_time"][kept], t["watch_time"][rows][kept], rtol=1e-6)
        np.testing.assert_array_equal(s.labels["click"], t["click"][rows])
    assert data.train.labels["click"].dtype == np.int32


def test_from_arrays_takes_a_label_matrix_string_tasks_and_infers_classes():
    rng = np.random.default_rng(1)
    y = np.stack([rng.integers(0, 3, 90).astype(float), rng.normal(size=90)], axis=1)
    y[::4, 0] = np.nan
    data = from_arrays(rng.normal(size=(90, 4)), y, ["kind:multiclass", ("score", "regression")], seed=2)
    assert data.tasks[0].num_classes == 3 and data.tasks[1].kind == "regression"
    assert data.tasks[1].label_scale != 1.0   # standardized from the training split
    assert sum(s.masks["kind"].sum() for s in data.splits().values()) == 90 - len(range(0, 90, 4))


def test_from_dataframe_reads_named_columns():
    t = _table()
    data = from_dataframe(t, features=["a", "b"], tasks=["click:binary", "watch_time:regression"], seed=0)
    assert data.input_shape == (2,) and data.task_names == ["click", "watch_time"]
    with pytest.raises(DataError, match="feature column 'c' is not in the data"):
        from_dataframe(t, features=["a", "c"], tasks=TASKS)


def test_from_dataframe_with_pandas_and_nan():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(_table())
    data = from_dataframe(frame, features=["a", "b"], tasks=TASKS, standardize_labels=False)
    total = sum(s.masks["watch_time"].sum() for s in data.splits().values())
    assert total == int(frame["watch_time"].notna().sum())


@pytest.mark.parametrize("with_masks", [False, True])
def test_from_dataset_materialises_features_labels_and_masks(with_masks):
    import tensorflow as tf
    t = _table(60)
    x = np.stack([t["a"], t["b"]], axis=1).astype(np.float32)
    labels = {"click": t["click"].astype(np.float32), "watch_time": t["watch_time"].astype(np.float32)}
    parts = (x, labels)
    if with_masks:   # masks switch off a present label too
        masks = {"click": np.where(np.arange(60) < 10, 0.0, 1.0).astype(np.float32),
                 "watch_time": np.ones(60, np.float32)}
        parts = (x, labels, masks)
    data = from_dataset(tf.data.Dataset.from_tensor_slices(parts), TASKS, standardize_labels=False)
    clicks = sum(s.masks["click"].sum() for s in data.splits().values())
    watched = sum(s.masks["watch_time"].sum() for s in data.splits().values())
    assert clicks == (50 if with_masks else 60)
    assert watched == int(np.sum(~np.isnan(t["watch_time"])))


@pytest.mark.parametrize("labels, tasks, words", [
    ({"click": [np.nan] * 6}, [Task("click", "binary")], "task 'click' has no labels"),
    ({"click": [0, 1, 2.5, 0, 1, 0]}, [Task("click", "binary")], "not class ids"),
    ({"click": [0, 1, 1, 0, 1, 0]}, ["click:binar"], "kind 'binar' is not one of"),
    ({"click": [0, 1, 1, 0, 1, 0]}, [Task("clack", "binary")], "no labels for task(s) ['clack']"),
])
def test_from_arrays_errors_name_the_task(labels, tasks, words):
    with pytest.raises(DataError) as e:
        from_arrays(np.arange(12.0).reshape(6, 2), labels, tasks, validation=0.2, test=0.2)
    assert words in str(e.value) and "\n" not in str(e.value)


# ---- --dataset=csv -------------------------------------------------------------------------------------------

def _write_csv(path, n=240, missing_every=3, bad=None):
    t = _table(n)
    rows = ["a,b,c,click,watch_time"]
    for i in range(n):
        watch = "" if i % missing_every == 0 or math.isnan(t["watch_time"][i]) else f"{t['watch_time'][i]:.4f}"
        c = "oops" if bad == "feature" and i == 5 else f"{t['a'][i] * t['b'][i]:.4f}"
        click = "" if bad == "empty" else f"{int(t['click'][i])}"
        rows.append(f"{t['a'][i]:.4f},{t['b'][i]:.4f},{c},{click},{watch}")
    path.write_text("\n".join(rows) + "\n")
    return path


CSV_FLAGS = dict(dataset="csv", tasks=["click:binary", "watch_time:regression"], features=["a", "b", "c"])


def test_csv_source_loads_with_missing_labels(tmp_path):
    path = _write_csv(tmp_path / "log.csv")
    data = load_dataset("csv", data_path=str(path), tasks=CSV_FLAGS["tasks"], features=CSV_FLAGS["features"])
    assert data.input_shape == (3,) and data.train.size + data.validation.size + data.test.size == 240
    watched = sum(s.masks["watch_time"].sum() for s in data.splits().values())
    assert 0 < watched < 240 and all(s.masks["click"].all() for s in data.splits().values())


def test_parquet_and_tfrecord_load_like_the_csv(tmp_path):
    import tensorflow as tf
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    t = _table(120)
    pq.write_table(pa.table({k: pa.array(v, from_pandas=True) for k, v in t.items()}), str(tmp_path / "log.parquet"))
    path = str(tmp_path / "log.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(120):
            feats = {"a": tf.train.Feature(float_list=tf.train.FloatList(value=[t["a"][i]])),
                     "v": tf.train.Feature(float_list=tf.train.FloatList(value=[t["b"][i], 1.0])),
                     "click": tf.train.Feature(float_list=tf.train.FloatList(value=[t["click"][i]]))}
            if not math.isnan(t["watch_time"][i]):   # a missing label: the feature is absent
                feats["watch_time"] = tf.train.Feature(float_list=tf.train.FloatList(value=[t["watch_time"][i]]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    expected = int(np.sum(~np.isnan(t["watch_time"])))
    for file, features, width in [("log.parquet", ["a", "b"], 2), ("log.tfrecord", ["a", "v:2"], 3)]:
        data = load_dataset("csv", data_path=str(tmp_path / file), tasks=CSV_FLAGS["tasks"], features=features)
        assert data.input_shape == (width,), file
        assert sum(s.masks["watch_time"].sum() for s in data.splits().values()) == expected, file


def test_parquet_without_pyarrow_is_one_line(tmp_path, monkeypatch):
    import sys
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"needs pyarrow \(pip install -e '\.\[parquet\]'\)"):
        load_dataset("csv", data_path=str(tmp_path / "x.parquet"), tasks=["click:binary"], features=["a"])


@pytest.mark.parametrize("change, words", [
    (dict(features=["a", "nope"]), "--features: column 'nope' is not in"),
    (dict(tasks=["click:binar"]), "--tasks: task 'click': kind 'binar' is not one of"),
    (dict(tasks=["click:binary", "liked:binary"]), "--tasks: task 'liked' has no column of that name"),
    (dict(bad="empty"), "task 'click' has no labels (every value is missing)"),
    (dict(bad="feature"), "feature column 'c' is not numeric (value 'oops')"),
    (dict(data_path=None), "--dataset=csv needs --data_path=FILE"),
    (dict(data_path="x.xlsx"), "unknown file type"),
])
def test_csv_errors_are_one_line_exit_2(change, words, tmp_path, capsys):
    from mtl_tf.apps.train import main
    change = dict(change)
    path = _write_csv(tmp_path / "log.csv", bad=change.pop("bad", None))
    values = {**CSV_FLAGS, "data_path": str(path), "steps": 1, "run_dir": str(tmp_path / "run"), "quiet": True, **change}
    with flagsaver.flagsaver(**values), pytest.raises(SystemExit) as e:
        main(["mtl-train"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("mtl-train: error: ") and words in err, err


def test_csv_with_a_missing_label_trains_from_the_command_line(tmp_path):
    path = _write_csv(tmp_path / "log.csv")
    run = tmp_path / "run"
    proc = run_script("mtl-train", "--dataset=csv", f"--data_path={path}", "--tasks=click:binary,watch_time:regression",
                      "--features=a,b,c", "--steps=20", "--log_every=10", "--eval_every=0", f"--run_dir={run}",
                      "--quiet", "--grad_method=pcgrad")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 20 and set(metrics["tasks"]) == {"click", "watch_time"}
    assert "auc" in metrics["tasks"]["click"] and "rmse" in metrics["tasks"]["watch_time"]
    assert "--tasks=click:binary,watch_time:regression" in (run / "flags.txt").read_text()
