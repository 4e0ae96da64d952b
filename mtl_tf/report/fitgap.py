"""Training-split metrics of a finished run: how well its saved model fits the data it trained on.

  python -m mtl_tf.report.fitgap RUN_DIR     # adds "train": {task: {metric: value}} -> RUN_DIR/train_metrics.json

The run's data is rebuilt from its ``flags.txt`` (same dataset, flags and seed, so the same
training split) and ``model.keras`` is evaluated on it with the Trainer's own evaluation code.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TRAIN_METRICS = "train_metrics.json"


def _flag_values(flags_txt: str):
    """The run's flag values, parsed by the flags mtl-train defines (a plain namespace)."""
    import types
    from absl import flags
    import mtl_tf.train  # noqa: F401  (defines every mtl-train flag)
    defined = flags.FLAGS
    values = {name: defined[name].default for name in defined}  # read-only: the global values stay untouched
    with open(flags_txt) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("--"):
                continue
            name, has_value, value = line[2:].partition("=")
            if has_value and name in values:
                values[name] = defined[name].parser.parse(value)
            elif not has_value and name.startswith("no") and name[2:] in values:
                values[name[2:]] = False
            elif not has_value and name in values:
                values[name] = True
    return types.SimpleNamespace(**values)


def train_metrics(run_dir: str) -> dict:
    """{task: {metric: value}} of ``run_dir/model.keras`` on the run's training split."""
    import keras
    from mtl_tf.data import load_dataset
    from mtl_tf.training import evaluation
    fv = _flag_values(os.path.join(run_dir, "flags.txt"))
    data = load_dataset(fv.dataset, fv, fv.seed, standardize_labels=fv.standardize_labels)
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"))
    return evaluation.evaluate(data.tasks, evaluation.Predictor(model)(data.train), data.train)


def main(argv) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m mtl_tf.report.fitgap RUN_DIR\n")
        return 2
    run_dir = argv[1]
    result = train_metrics(run_dir)
    tmp = os.path.join(run_dir, TRAIN_METRICS + ".tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(run_dir, TRAIN_METRICS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
