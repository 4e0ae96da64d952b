"""Training-split metrics of a finished run: how well its saved model fits the data it trained on.

  python -m mtl_tf.apps.fitgap RUN_DIR     # adds "train": {task: {metric: value}} -> RUN_DIR/train_metrics.json

The run's data is rebuilt from its ``flags.txt`` (same dataset, flags and seed, so the same
training split: ``mtl_tf.apps.config``) and ``model.keras`` is evaluated on it with the Trainer's
own evaluation code. mtl-report runs it after each run it trains (``mtl_tf.report.runner``).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mtl_tf.report.fitgap import TRAIN_METRICS  # noqa: E402


def _flag_values(flags_txt: str):
    """The run's flag values, parsed by the flags mtl-train defines (a plain namespace)."""
    from mtl_tf.apps.config import flag_values_from_file
    return flag_values_from_file(flags_txt)


def train_metrics(run_dir: str) -> dict:
    """{task: {metric: value}} of ``run_dir/model.keras`` on the run's training split."""
    import keras
    from mtl_tf.apps.config import from_flags
    from mtl_tf.training import evaluation
    data = from_flags(_flag_values(os.path.join(run_dir, "flags.txt"))).load_data()
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
