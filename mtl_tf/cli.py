"""What every mtl_tf absl app shares: parse flags, quiet logs, one-line errors with exit codes.

  exit 2: bad flags, bad data or a configuration that cannot work (a ``ValueError``), before training;
  exit 1: training failed (``TrainingError``) or a graded function is still a TODO.
"""

import sys
from typing import Callable

from absl import app, flags, logging

FLAGS = flags.FLAGS


def first_line(error: BaseException, limit=200) -> str:
    """The first line of ``error``'s message (its type's name if it has none), cut at ``limit`` characters."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def fail(prog: str, message: str, code: int):
    """Print ``prog: error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(code)


def adopt_mtl_flags() -> None:
    """Make every mtl_tf flag a key flag of the running app, so ``--help`` lists them (a console
    script's main module defines none; ``--helpfull`` adds absl's and TensorFlow's)."""
    main_module = sys.argv[0]  # absl's --help lists the key flags of the module named by argv[0]
    for name, module_flags in list(FLAGS.flags_by_module_dict().items()):
        if name.startswith("mtl_tf"):
            for flag in module_flags:
                FLAGS.register_key_flag_for_module(main_module, flag)


def flags_parser(prog: str) -> Callable:
    """An absl ``flags_parser``: a bad flag is one line naming it and what is allowed, then exit 2."""
    def parse(argv):
        try:
            return FLAGS(argv)
        except flags.Error as e:
            fail(prog, f"{e} ({prog} --helpfull lists every flag)", 2)
    return parse


def make_main(prog: str, body: Callable) -> Callable:
    """The absl ``main`` of ``prog``: runs ``body(FLAGS)`` (no positional arguments), exceptions as
    one line and an exit code."""
    def main(argv):
        from mtl_tf.training import TrainingError
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # SavedModel/checkpoint INFO lines drown the results
        try:
            body(FLAGS)
        except TrainingError as e:
            fail(prog, str(e), 1)
        except NotImplementedError as e:
            fail(prog, f"{e} (fill in the TODO in homework/, or use --impl=solutions)", 1)
        except ValueError as e:  # ConfigError, DataError, TransferError, ...
            fail(prog, str(e), 2)
    return main


def run_app(prog: str, body: Callable) -> None:
    """Run ``body(FLAGS)`` as the absl app ``prog``."""
    adopt_mtl_flags()
    app.run(make_main(prog, body), flags_parser=flags_parser(prog))
