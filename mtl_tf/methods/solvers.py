"""Running the graded solvers fast: XLA-compiled inside the step when a probe says it is safe.

The graded solvers (PCGrad's projection loop, MGDA's min-norm active set, CAGrad's root search)
are loops of tiny ops: one op dispatch each costs more than the arithmetic. Compiled by XLA
inside the step they ran 3-6x faster on CPU (benchmarks/README.md).
"""

from typing import Callable, Dict

import numpy as np
import tensorflow as tf
from absl import logging

from mtl_tf.errors import first_line

# False: run the solvers as written (no XLA).
COMPILE_SOLVERS = True
_SOLVERS: Dict[tuple, Callable] = {}

_SAMPLE_ROWS = np.array([[1.0, 0.5, -0.2, 0.1], [-0.3, 1.0, 0.4, 0.0], [0.2, -0.6, 1.0, 0.3]], np.float32)


def sample_rows(k):
    """Probe input for a solver of rows [K, P]."""
    return (_SAMPLE_ROWS[:k],)


def sample_gram(k):
    """Probe input for a solver of a Gram matrix [K, K]."""
    return (_SAMPLE_ROWS[:k] @ _SAMPLE_ROWS[:k].T,)


def sample_rows_and_seed(k):
    """Probe input for a solver of rows [K, P] and a stateless seed [2]."""
    return _SAMPLE_ROWS[:k], np.array([0, 1], np.int64)


def compiled_solver(fn, sample: Callable, **kwargs) -> Callable:
    """``lambda *args: fn(*args, **kwargs)``, run by XLA when that works, else as written with a
    warning (an implementation XLA cannot compile still trains). Inside an XLA-compiled step
    (``--jit_compile``) it is ``fn`` as is.

    The first argument's leading dimension K (tasks present) is unknown at trace time and XLA
    compiles each K it meets. ``sample(k)`` (a tuple of arrays for K = k) probes K = 1, 2, 3: that
    XLA compiles ``fn`` (every branch, for every K) and keeps every input an input. A solver whose
    branches return different shapes, or that slices at a computed index, gets its input baked in
    as a constant, and XLA then recompiled it on every step (measured: 200 ms a step). Cached per
    (fn, COMPILE_SOLVERS, kwargs); the probe runs eagerly, also when called while tracing."""
    key = (fn, COMPILE_SOLVERS, tuple(sorted(kwargs.items())))
    if key in _SOLVERS:
        return _SOLVERS[key]

    def plain(*args):
        return fn(*args, **kwargs)
    solver = plain
    if COMPILE_SOLVERS:
        first_sample = sample(1)
        # every dimension unknown in the trace (K varies; the sample's sizes are not the real ones)
        specs = [tf.TensorSpec([None] * np.ndim(a), np.asarray(a).dtype) for a in first_sample]
        jit = tf.function(plain, jit_compile=True, input_signature=specs)
        try:
            for k in (1, 2, 3):
                with tf.init_scope():
                    hlo = jit.experimental_get_compiler_ir(*sample(k))(stage="hlo")
                entry = next(line for line in hlo.splitlines() if line.startswith("ENTRY"))
                if entry[entry.index("(") + 1:entry.index(")")].count(":") != len(first_sample):
                    raise ValueError(f"for K = {k} XLA takes the input as a constant and would recompile it every "
                                     "step; index with tf.gather(x, i), not x[i], for a tensor i")

            def solver(*args):
                return plain(*args) if in_xla_context() else jit(*args)
        except NotImplementedError:   # an unfinished homework function: its own error, at the call
            pass
        except Exception as e:  # noqa: BLE001 -- any failure to compile means: run it as written
            logging.warning("%s runs without XLA, slower (%s)", getattr(fn, "__name__", fn), first_line(e))
    solver.compiled = solver is not plain
    _SOLVERS[key] = solver
    return solver


def in_xla_context() -> bool:
    """Whether the function being traced is itself XLA-compiled (``tf.function(jit_compile=True)``)."""
    try:
        from tensorflow.python.ops import control_flow_util  # no public API for this
        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):   # a TensorFlow without it: nesting the compiled solver is still valid
        return False
