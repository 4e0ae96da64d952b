"""What every mtl_tf absl app shares: parse flags, quiet logs, one-line errors with exit codes.

The apps (``mtl_tf.apps``) define the flags; this module defines none.

  exit 2: bad flags, bad data or a configuration that cannot work (a ``ValueError``), before training;
  exit 1: training failed (``TrainingError``), a file could not be written, or a graded function is
          still a TODO;
  exit 130: interrupted (Ctrl-C), with one line saying where the run stopped.

``--help``/``--helpfull`` exit 0 (``mtl_tf.cli_help``). ``--verbose`` (or ``MTL_TF_VERBOSE=1``) keeps
TensorFlow's and absl's log lines, quieted otherwise (``mtl_tf.entry``).
"""

import os
import sys
from typing import Callable, Optional

from absl import app, flags, logging

from mtl_tf import cli_help, entry
from mtl_tf.errors import TrainingError, first_line  # noqa: F401  (first_line re-exported: mtl_tf.cli.first_line)

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(prog: str, message: str, code: int):
    """Print ``prog: error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(code)


def flag_error(prog: str, error: flags.Error) -> str:
    """One line for a flag parsing error: absl's ``ERROR::`` prefix dropped; a flag file that cannot be
    opened says that flag-file paths are relative to the current folder (and where the file is if it
    is relative to the repository instead)."""
    message = first_line(error, limit=400)
    if message.startswith("ERROR::"):
        message = message[len("ERROR::"):].strip()
    cause = error.__context__
    path = getattr(cause, "filename", None)
    if isinstance(cause, OSError) and isinstance(path, str) and not os.path.isabs(path) and not os.path.exists(path):
        message += f" (flag-file paths are relative to the current folder, {os.getcwd()}"
        in_repo = os.path.join(REPO_ROOT, path)
        if os.path.isfile(in_repo):
            message += f"; did you mean --flagfile={in_repo}?"
        return message + ")"
    return f"{message} ({prog} --helpfull lists every flag)"


def flags_parser(prog: str, doc: Optional[str] = None, own_module: Optional[str] = None) -> Callable:
    """An absl ``flags_parser``: a bad flag is one line naming it and what is allowed, then exit 2;
    ``--help``/``--helpfull`` print ``doc`` and the flags (``own_module``'s first), then exit 0."""
    def parse(argv):
        wanted = cli_help.requested(argv)
        if wanted:
            cli_help.show(prog, doc, own_module, full=wanted == "full")
        try:
            return FLAGS(argv)
        except flags.Error as e:
            fail(prog, flag_error(prog, e), 2)
    return parse


def make_main(prog: str, body: Callable) -> Callable:
    """The absl ``main`` of ``prog``: runs ``body(FLAGS)`` (no positional arguments), exceptions as
    one line and an exit code."""
    def main(argv):
        if len(argv) > 1:
            fail(prog, f"unexpected arguments: {' '.join(argv[1:])} (flags are --name=value; {prog} --help lists "
                       "them)", 2)
        verbose = "verbose" in FLAGS and FLAGS.verbose   # --verbose: defined by mtl_tf.apps.output_flags
        if not FLAGS["verbosity"].present and not (verbose or entry.verbose([])):
            logging.set_verbosity(logging.WARNING)  # SavedModel/checkpoint INFO lines drown the results
        try:
            body(FLAGS)
        except KeyboardInterrupt as e:   # the Trainer's says where the run stopped
            sys.stderr.write(f"{prog}: {str(e) or 'interrupted (Ctrl-C); re-run the same command to resume'}\n")
            sys.exit(130)
        except TrainingError as e:
            fail(prog, str(e), 1)
        except NotImplementedError as e:
            fail(prog, f"{e} (fill in the TODO in homework/, or use --impl=solutions)", 1)
        except ValueError as e:  # ConfigError, DataError, TransferError, ...
            fail(prog, str(e), 2)
        except OSError as e:     # a file that cannot be written or read: its message names it
            fail(prog, first_line(e, limit=400), 1)
    return main


def run_app(prog: str, body: Callable, doc: Optional[str] = None, own_module: Optional[str] = None) -> None:
    """Run ``body(FLAGS)`` as the absl app ``prog``; ``doc`` and ``own_module`` make its ``--help``."""
    app.run(make_main(prog, body), flags_parser=flags_parser(prog, doc, own_module))
