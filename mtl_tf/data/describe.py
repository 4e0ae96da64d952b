"""mtl-data: list the ``--dataset`` sources, or describe one (tasks, kinds, sizes, shapes).

Examples:
  mtl-data list
  mtl-data describe recommendation
  mtl-data describe families --relatedness=-1 --family_tasks=6
  mtl-data describe --flagfile=flags/data_images.flags     # NAME defaults to --dataset
"""

import os

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads


import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from mtl_tf import cli, train  # noqa: E402,F401 - defines --dataset and --seed, shared with mtl-train
from mtl_tf.data import DATASETS, DataError, load_dataset  # noqa: E402

FLAGS = flags.FLAGS
USAGE = "usage: mtl-data list | mtl-data describe [NAME] [--flags]   (mtl-data --helpfull for the flags)"


def list_text() -> str:
    """One line per ``--dataset`` value: name, offline or TFDS, what it is."""
    width = max(len(n) for n in DATASETS)
    return "\n".join(f"{name.ljust(width)}  {'offline' if s.offline else 'TFDS   '}  {s.doc}"
                     for name, s in sorted(DATASETS.items()))


def _array_line(key, value) -> str:
    value = np.asarray(value)
    text = f"  {key:<14} {str(value.dtype):<8} per example {value.shape[1:]}"
    if value.size and (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
        text += f"  range [{value.min():.4g}, {value.max():.4g}]"
    return text


def _label_summary(task, labels, mask) -> str:
    y = np.asarray(labels)[np.asarray(mask) > 0]
    if y.size == 0:
        return "no labels"
    if task.kind == "regression":
        return f"mean {y.mean():.4g}, std {y.std():.4g}"
    counts = np.bincount(y.astype(np.int64), minlength=2 if task.kind == "binary" else task.num_classes)
    return "class counts " + " ".join(str(c) for c in counts)


def describe(name: str, fv=FLAGS) -> str:
    """Text describing ``--dataset=name`` as loaded with the current flag values."""
    data = load_dataset(name, fv, fv.seed, standardize_labels=False)
    splits = data.splits()
    lines = [f"{data.name}: {data.description}",
             "splits: " + ", ".join(f"{s} {split.size}" for s, split in splits.items()),
             "features (model inputs, besides 'task'):"]
    lines += [_array_line(k, v) for k, v in sorted(data.train.features.items())]
    if data.train.extras:
        lines.append("extras (not model inputs):")
        lines += [_array_line(k, v) for k, v in sorted(data.train.extras.items())]
    lines.append(f"tasks ({len(data.tasks)}):")
    width = max(len(t.name) for t in data.tasks)
    for t in data.tasks:
        kind = t.kind + (f"/{t.num_classes}" if t.kind == "multiclass" else "")
        counts = "/".join(str(int(np.sum(s.masks[t.name] > 0))) for s in splits.values())
        lines.append(f"  {t.name.ljust(width)}  {kind:<13} labelled train/val/test {counts:<17} "
                     f"train {_label_summary(t, data.train.labels[t.name], data.train.masks[t.name])}")
    return "\n".join(lines)


def main(argv):
    args = argv[1:]
    if args == ["list"]:
        print(list_text())
    elif args and args[0] == "describe" and len(args) <= 2:
        name = args[1] if len(args) == 2 else FLAGS.dataset
        if name not in DATASETS:
            _fail(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
        try:
            print(describe(name))
        except DataError as e:
            _fail(str(e))
    else:
        _fail(USAGE)


def _fail(message: str):
    cli.fail("mtl-data", message, 2)


def run():
    """Run the ``mtl-data`` app (the console script goes through ``mtl_tf.entry.data``)."""
    app.run(main, flags_parser=cli.flags_parser("mtl-data", __doc__, own_module="mtl_tf.data.describe"))


if __name__ == "__main__":
    run()
