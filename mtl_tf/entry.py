"""Console-script entry points: quiet TensorFlow before it is first imported, then run the tool.

setup.py's console scripts point here, not at the tools' modules, because importing any tool
imports TensorFlow, and TensorFlow writes its C++ start-up lines (oneDNN custom operations, CUDA
drivers, ``cuInit`` errors on a machine without a GPU, the CPU-instructions notice) straight to
file descriptor 2 while it loads -- before any flag is parsed, and whatever ``TF_CPP_MIN_LOG_LEVEL``
says for the lines that come before ``absl::InitializeLog()``. So, before the tool is imported:

* ``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 (a value already in the environment is kept);
* ``import tensorflow`` runs with descriptor 2 sent to a temporary file; TensorFlow's log lines in
  it are dropped and anything else (a Python warning, an import error) is written out as it was.

``--verbose`` on the command line or ``MTL_TF_VERBOSE=1`` in the environment skips both and keeps
absl's INFO lines (``mtl_tf.cli``); the variable is exported, so child processes follow it.
A Ctrl-C the tool itself does not handle (e.g. while TensorFlow loads) ends with one line, exit 130.
"""

import importlib
import os
import re
import sys
import tempfile

VERBOSE_ENV = "MTL_TF_VERBOSE"
# I1202 07:25:13.834647 139808 file.py:394] ...   /   I0000 00:00:1796196210.079333  3725 port.cc:153] ...
_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^\s\]]+:\d+\]")
_NOISE_PREFIXES = ("WARNING: All log messages before absl::InitializeLog() is called",
                   "To enable the following instructions:")   # 2nd line of TensorFlow's CPU-features notice


def verbose(argv=None) -> bool:
    """Whether TensorFlow's own logs are wanted: ``--verbose`` in ``argv`` or ``MTL_TF_VERBOSE=1``."""
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return any(a in ("--verbose", "--verbose=true", "--verbose=1", "--verbose=True") for a in argv)


def is_tensorflow_log(line: str) -> bool:
    """True for a line TensorFlow's (or absl's) logging wrote: ``I0000 00:00:... file.cc:12] ...``."""
    return bool(_LOG_LINE.match(line)) or line.startswith(_NOISE_PREFIXES)


def quiet_tensorflow() -> None:
    """Import TensorFlow with its start-up log lines dropped (nothing to do if it is already imported,
    or when ``verbose()``: then ``MTL_TF_VERBOSE=1`` is exported instead)."""
    if verbose():
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):   # no usable descriptor 2: nothing to redirect
        import tensorflow  # noqa: F401
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        failed = False
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
            kept = lines if failed else [line for line in lines if line.strip() and not is_tensorflow_log(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def _run(module: str, prog: str, strip_verbose: bool = False):
    """Quiet TensorFlow, then ``module.run()``; ``strip_verbose``: the tool parses its own arguments
    (argparse) and does not know ``--verbose``."""
    quiet_tensorflow()
    if strip_verbose:
        sys.argv = [a for a in sys.argv if not (a == "--verbose" or a.startswith("--verbose="))]
    try:
        return importlib.import_module(module).run()
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130


def train():
    """``mtl-train``."""
    return _run("mtl_tf.apps.train", "mtl-train")


def data():
    """``mtl-data``."""
    return _run("mtl_tf.apps.data", "mtl-data")


def transfer():
    """``mtl-transfer``."""
    return _run("mtl_tf.apps.transfer", "mtl-transfer")


def report():
    """``mtl-report``."""
    return _run("mtl_tf.apps.report", "mtl-report")


def assign():
    """``mtl-assign``."""
    return _run("mtl_tf.grading.assign", "mtl-assign", strip_verbose=True)


def grade():
    """``mtl-grade``."""
    return _run("mtl_tf.grading.grade", "mtl-grade", strip_verbose=True)
