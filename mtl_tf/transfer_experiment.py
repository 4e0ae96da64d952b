"""mtl-transfer: transfer learning vs multi-task learning on a sweep of target-set sizes.

The app lives in ``mtl_tf.apps.transfer`` (with its flags); this module keeps the old import path
and ``python -m mtl_tf.transfer_experiment`` working: it re-exports the app's names.
"""

from mtl_tf.apps.transfer import *  # noqa: F401,F403
from mtl_tf.apps.transfer import FLAGS, METHODS, run, sweep, table, winners, write  # noqa: F401
from mtl_tf.apps.transfer import __doc__  # noqa: F401,E402  (--help prints the app's docstring)

if __name__ == "__main__":
    run()
