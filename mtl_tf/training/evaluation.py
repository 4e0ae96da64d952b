"""Evaluation: predictions on a split, per-task metrics in original units, the constant baseline."""

import json
import math
from typing import Dict

import numpy as np
import tensorflow as tf

from mtl_tf.tasks import HEADLINE_METRIC


def model_feature_keys(model):
    """The feature keys a contract model takes (its dict inputs other than "task")."""
    return [k for k in model.input if k != "task"]


class Predictor:
    """Batched, compiled ``model(features, training=False)`` over a whole split.

    The last batch is padded to ``batch_size`` so the function is traced once.
    """

    def __init__(self, model, batch_size: int = 1024):
        self.model = model
        self.batch_size = batch_size
        self.keys = model_feature_keys(model)
        self._fn = tf.function(lambda features: model(features, training=False))

    def __call__(self, split) -> Dict[str, np.ndarray]:
        """Raw outputs {task: [N, out]} for every example of ``split`` (all its feature keys are fed)."""
        n, b = split.size, self.batch_size
        chunks = []
        for start in range(0, n, b):
            features = {k: split.features[k][start:start + b] for k in self.keys}
            pad = b - features["x"].shape[0]
            if pad:
                features = {k: np.concatenate([v, np.zeros((pad, *v.shape[1:]), v.dtype)])
                            for k, v in features.items()}
            features["task"] = np.zeros([b], np.int32)
            out = self._fn({k: tf.constant(v) for k, v in features.items()})
            chunks.append({k: v.numpy()[:b - pad] for k, v in out.items()})
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def evaluate(tasks, outputs, split) -> Dict[str, Dict[str, float]]:
    """{task: {metric: value}} from raw outputs on ``split`` (labels present only)."""
    return {t.name: t.metrics(split.labels[t.name], outputs[t.name], split.masks[t.name]) for t in tasks}


def baseline(tasks, train_split, split) -> Dict[str, Dict[str, float]]:
    """Metrics of the best constant predictor fit on the training labels ("predict the mean")."""
    return {t.name: t.metrics(split.labels[t.name],
                              t.constant_outputs(train_split.labels[t.name], split.size,
                                                 train_split.masks[t.name]),
                              split.masks[t.name])
            for t in tasks}


def beats_baseline(tasks, results, base) -> Dict[str, bool]:
    """Whether each task's headline metric (lower is better) beats the baseline's."""
    out = {}
    for t in tasks:
        m = HEADLINE_METRIC[t.kind]
        out[t.name] = bool(results[t.name].get(m, math.inf) < base[t.name].get(m, -math.inf))
    return out


def format_table(tasks, results, base=None) -> str:
    """A plain-text table: one row per task, its metrics, and the baseline's headline metric."""
    rows = [("task", "kind", "metrics", "baseline " if base else "")]
    for t in tasks:
        metrics = "  ".join(f"{k}={v:.4g}" for k, v in results[t.name].items())
        b = ""
        if base:
            m = HEADLINE_METRIC[t.kind]
            b = f"{m}={base[t.name].get(m, float('nan')):.4g}"
        rows.append((t.name, t.kind, metrics, b))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def to_json(obj, path) -> None:
    """Write ``obj`` as JSON, with NaN written as null (strict JSON)."""
    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (float, np.floating)):
            return float(o) if math.isfinite(o) else None
        if isinstance(o, np.integer):
            return int(o)
        return o
    with open(path, "w") as f:
        json.dump(clean(obj), f, indent=2, sort_keys=True)
