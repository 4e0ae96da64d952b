"""The training-split metrics of a finished run (the report's fit-gap step): where they are written.

``python -m mtl_tf.apps.fitgap RUN_DIR`` (the app: it rebuilds the run's data from its flags.txt)
writes ``RUN_DIR/train_metrics.json`` (``TRAIN_METRICS``); ``mtl_tf.report.runner`` reads it.
"""

TRAIN_METRICS = "train_metrics.json"
