"""The exception types of mtl_tf and their one-line formatting (the console scripts print one
line per error, never a traceback).

Which exit code each gets is decided in one place, ``mtl_tf.cli.make_main``: a ``ValueError``
(``ConfigError``, ``DataError``, ``TransferError``) is a bad input found before training (exit 2);
a ``TrainingError`` stops a run that had started (exit 1). Every module that raises them imports
them from here (older import paths -- ``mtl_tf.data.DataError``, ``mtl_tf.train.ConfigError``,
``mtl_tf.transfer.TransferError``, ``mtl_tf.training.TrainingError``, ``mtl_tf.cli.first_line``
-- re-export these same classes). This module imports nothing of mtl_tf, so anything may import it.
"""


class ConfigError(ValueError):
    """A setting or combination of settings that cannot work with the chosen data (one line)."""


class DataError(ValueError):
    """Bad data, reported before any training, naming the task, column or flag at fault."""


class TransferError(ValueError):
    """A transfer configuration or pre-trained run that cannot work (one line)."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a task's loss became non-finite)."""


def first_line(error: BaseException, limit=200) -> str:
    """The first line of ``error``'s message (its type's name if it has none), cut at ``limit`` characters."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__
