"""The ``mtl-data`` app: ``main`` around ``mtl_tf.data.describe`` (it reads mtl-train's data flags)."""

from mtl_tf import entry

entry.quiet_tensorflow()   # before TensorFlow loads

from absl import app, flags  # noqa: E402

from mtl_tf import cli  # noqa: E402
from mtl_tf.apps import train  # noqa: E402,F401  (defines every mtl-train flag: a --flagfile of mtl-train works)
from mtl_tf.apps.config import from_flags  # noqa: E402
from mtl_tf.data import DATASETS, DataError  # noqa: E402
from mtl_tf.data.describe import __doc__, describe, list_text  # noqa: E402,F401  (--help prints its docstring)

FLAGS = flags.FLAGS
USAGE = "usage: mtl-data list | mtl-data describe [NAME] [--flags]   (mtl-data --helpfull for the flags)"


def main(argv):
    args = argv[1:]
    if args == ["list"]:
        print(list_text())
    elif args and args[0] == "describe" and len(args) <= 2:
        name = args[1] if len(args) == 2 else FLAGS.dataset
        if name not in DATASETS:
            _fail(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
        try:
            print(describe(name, seed=FLAGS.seed, **from_flags(FLAGS).data_options))
        except DataError as e:
            _fail(str(e))
    else:
        _fail(USAGE)


def _fail(message: str):
    cli.fail("mtl-data", message, 2)


def run():
    """Run the ``mtl-data`` app (the console script goes through ``mtl_tf.entry.data``)."""
    app.run(main, flags_parser=cli.flags_parser("mtl-data", __doc__, own_module="mtl_tf.apps.data"))


if __name__ == "__main__":
    run()
