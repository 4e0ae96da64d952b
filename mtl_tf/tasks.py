"""What a task is: its name, its kind, and everything that follows from the kind.

A task's kind (``regression``, ``binary``, ``multiclass``) decides, in this module only:

* the output size of its head (1, 1, ``num_classes``);
* the per-example training loss on the model's raw outputs (squared error on
  standardized labels, sigmoid / softmax cross-entropy on logits);
* the evaluation metrics, reported in the label's original units;
* the "predict the mean" baseline used to show that learning happened.

No other module re-writes a loss, a metric or an output size per model.
"""

import dataclasses
import math
import re

import numpy as np
import tensorflow as tf

KINDS = ("regression", "binary", "multiclass")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# The metric each kind is judged by (lower is better for all of them), used for
# baselines, progress and the relative multi-task gain (delta_m).
HEADLINE_METRIC = {"regression": "rmse", "binary": "logloss", "multiclass": "logloss"}
LOWER_IS_BETTER = {"mse": True, "rmse": True, "mae": True, "logloss": True,
                   "accuracy": False, "auc": False}


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of a multi-task problem.

    Attributes:
      name: identifier (letters, digits, ``_``); used as the output key and as
        the prefix of the task's own layers (see ``mtl_tf.models``).
      kind: one of ``KINDS``.
      num_classes: number of classes for ``multiclass`` (>= 2); 0 otherwise.
      label_mean, label_scale: regression labels are trained as
        ``(y - label_mean) / label_scale``; predictions are mapped back for
        reporting. (0, 1) means "not standardized".
    """

    name: str
    kind: str
    num_classes: int = 0
    label_mean: float = 0.0
    label_scale: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"Task name {self.name!r} must start with a letter and contain only "
                "letters, digits and '_'.")
        if self.kind not in KINDS:
            raise ValueError(f"Task {self.name!r}: kind {self.kind!r} is not one of {KINDS}.")
        if self.kind == "multiclass" and self.num_classes < 2:
            raise ValueError(f"Task {self.name!r}: a multiclass task needs num_classes >= 2, "
                             f"got {self.num_classes}.")
        if self.kind != "multiclass" and self.num_classes != 0:
            raise ValueError(f"Task {self.name!r}: num_classes is only for multiclass tasks.")
        if not (self.label_scale > 0 and math.isfinite(self.label_scale)):
            raise ValueError(f"Task {self.name!r}: label_scale must be positive and finite, "
                             f"got {self.label_scale}.")

    # ---- shapes -----------------------------------------------------------
    @property
    def output_size(self) -> int:
        """Width of the task's head: 1 for regression and binary, C for multiclass."""
        return self.num_classes if self.kind == "multiclass" else 1

    @property
    def label_dtype(self):
        return np.float32 if self.kind == "regression" else np.int32

    # ---- labels -----------------------------------------------------------
    def standardized(self, mean: float, scale: float) -> "Task":
        """This task with the given label standardization (regression only)."""
        if self.kind != "regression":
            return self
        return dataclasses.replace(self, label_mean=float(mean), label_scale=float(scale))

    def training_labels(self, labels):
        """Raw labels [N] -> the labels the loss sees (standardized for regression)."""
        labels = np.asarray(labels)
        if self.kind == "regression":
            return ((labels - self.label_mean) / self.label_scale).astype(np.float32)
        return labels.astype(np.int32)

    # ---- loss -------------------------------------------------------------
    def loss(self, labels, outputs):
        """Per-example training loss.

        Args:
          labels: [B] training labels (standardized float for regression, int ids otherwise).
          outputs: [B, output_size] raw model outputs (logits for classification).
        Returns:
          [B] float32 loss per example; finite for any finite input.
        """
        outputs = tf.convert_to_tensor(outputs)
        if self.kind == "regression":
            return tf.square(tf.reshape(outputs, [-1]) - tf.cast(tf.reshape(labels, [-1]), outputs.dtype))
        if self.kind == "binary":
            return tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.cast(tf.reshape(labels, [-1]), outputs.dtype), logits=tf.reshape(outputs, [-1]))
        # multiclass: labels may be out of range where the mask is off; clip so the
        # masked-out entries stay finite (they are multiplied by 0 afterwards).
        labels = tf.clip_by_value(tf.cast(tf.reshape(labels, [-1]), tf.int32), 0, self.num_classes - 1)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs)

    # ---- reporting --------------------------------------------------------
    def predictions(self, outputs):
        """Raw outputs [N, output_size] -> predictions in the label's units.

        regression: [N] values in original units; binary: [N] P(y=1);
        multiclass: [N, C] class probabilities.
        """
        outputs = np.asarray(outputs, dtype=np.float64)
        if self.kind == "regression":
            return outputs.reshape(-1) * self.label_scale + self.label_mean
        if self.kind == "binary":
            return 1.0 / (1.0 + np.exp(-outputs.reshape(-1)))
        z = outputs - outputs.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def metrics(self, raw_labels, outputs, mask=None) -> dict:
        """Evaluation metrics on raw (unstandardized) labels, over examples where mask is on.

        Args:
          raw_labels: [N] labels in original units / class ids.
          outputs: [N, output_size] raw model outputs.
          mask: optional [N] 0/1, which labels exist.
        Returns:
          {metric name: float}; regression: mse, rmse, mae; binary: logloss, accuracy, auc;
          multiclass: logloss, accuracy. Empty dict when no label is present.
        """
        raw_labels = np.asarray(raw_labels)
        outputs = np.asarray(outputs)
        if mask is not None:
            keep = np.asarray(mask) > 0
            raw_labels, outputs = raw_labels[keep], outputs[keep]
        if raw_labels.shape[0] == 0:
            return {}
        pred = self.predictions(outputs)
        if self.kind == "regression":
            err = pred - raw_labels.astype(np.float64)
            mse = float(np.mean(err ** 2))
            return {"mse": mse, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(err)))}
        eps = 1e-7
        if self.kind == "binary":
            y = raw_labels.astype(np.float64)
            p = np.clip(pred, eps, 1 - eps)
            return {"logloss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
                    "accuracy": float(np.mean((pred > 0.5) == (y > 0.5))),
                    "auc": binary_auc(y, pred)}
        y = raw_labels.astype(np.int64)
        p = np.clip(pred[np.arange(len(y)), y], eps, 1.0)
        return {"logloss": float(-np.mean(np.log(p))),
                "accuracy": float(np.mean(pred.argmax(axis=1) == y))}

    def constant_outputs(self, train_raw_labels, n: int, mask=None) -> np.ndarray:
        """Outputs [n, output_size] of the best constant predictor fit on training labels.

        regression: the training mean; binary: the base rate; multiclass: class frequencies.
        """
        y = np.asarray(train_raw_labels)
        if mask is not None:
            y = y[np.asarray(mask) > 0]
        if self.kind == "regression":
            value = (float(np.mean(y)) - self.label_mean) / self.label_scale
            return np.full((n, 1), value, np.float32)
        if self.kind == "binary":
            p = float(np.clip(np.mean(y), 1e-4, 1 - 1e-4))
            return np.full((n, 1), math.log(p / (1 - p)), np.float32)
        freq = np.bincount(y.astype(np.int64), minlength=self.num_classes).astype(np.float64)
        freq = (freq + 1e-3) / (freq + 1e-3).sum()
        return np.tile(np.log(freq).astype(np.float32), (n, 1))


def binary_auc(y, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half). NaN if one class is absent."""
    y = np.asarray(y) > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # average ranks (1-based) with ties sharing the mean rank of their group
    values, inverse, counts = np.unique(np.asarray(scores), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    r = (ends - (counts - 1) / 2.0)[inverse]
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def check_task_names(tasks) -> None:
    """Raise ValueError if task names repeat."""
    names = [t.name for t in tasks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"Task names must be unique; repeated: {dup}.")
