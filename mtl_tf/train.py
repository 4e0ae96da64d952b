"""mtl-train: train a multi-task model on one dataset and report per-task metrics.

The app lives in ``mtl_tf.apps.train`` (with the flags it defines); this module keeps the old
import path and ``python -m mtl_tf.train`` working: it re-exports the app's names.
"""

from mtl_tf.apps.train import *  # noqa: F401,F403
from mtl_tf.apps.train import (FLAGS, RESUMABLE_DIFFERENCES, RUN_OUTPUTS, ConfigError, check_run_dir,  # noqa: F401
                               config_lines, default_run_dir, extra_results, flags_text, keep_record, main,
                               nothing_trained, run, run_training, summary_line)
from mtl_tf.apps.train import __doc__  # noqa: F401,E402  (--help prints the app's docstring)

if __name__ == "__main__":
    run()
