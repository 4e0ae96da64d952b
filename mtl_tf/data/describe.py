"""mtl-data: list the ``--dataset`` sources, or describe one (tasks, kinds, sizes, shapes).

Examples:
  mtl-data list
  mtl-data describe recommendation
  mtl-data describe families --relatedness=-1 --family_tasks=6
  mtl-data describe --flagfile=flags/data_images.flags     # NAME defaults to --dataset

``list_text()`` and ``describe(name, **options)`` are library calls; the app (``main``) is
``mtl_tf.apps.data``.
"""

import numpy as np

from mtl_tf.data import DATASETS, load_dataset


def list_text() -> str:
    """One line per ``--dataset`` value: name, offline or TFDS, what it is."""
    width = max(len(n) for n in DATASETS)
    return "\n".join(f"{name.ljust(width)}  {s.label:<7}  {s.doc}"
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


def describe(name: str, values=None, seed=None, **options) -> str:
    """Text describing source ``name`` loaded with ``options`` (``mtl_tf.data.OPTIONS``; the rest from
    ``values``'s attributes, e.g. parsed flags) and ``seed`` (default: ``values.seed``, else 0)."""
    seed = getattr(values, "seed", 0) if seed is None else seed
    data = load_dataset(name, values, seed, standardize_labels=False, **options)
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
