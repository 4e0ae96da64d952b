"""Assertions for the check half of a converted graded test (``checked.graded``), run in the parent.

They take what ``wire.decode`` rebuilt (plain ``np.ndarray`` values, Python numbers, strings, lists,
dicts) and check the exact type, shape and dtype kind before any comparison, so a check never meets
an object of the submission's. Every failure is an ``AssertionError`` with a student-readable message.
"""

import numpy as np

KINDS = {"f": "float", "i": "integer", "u": "unsigned integer", "b": "bool", "iu": "integer", "fiu": "numeric",
         "biu": "integer or bool"}


_NUMPY_SCALARS = {np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                  np.float16, np.float32, np.float64}


def _describe(a: np.ndarray) -> str:
    if a.size <= 8:
        return np.array2string(a, precision=5)
    return np.array2string(a.reshape(-1)[:6], precision=5)[:-1] + " ...]"


def array(value, shape=None, kind=None, name="the result") -> np.ndarray:
    """``value`` as a plain ``np.ndarray`` of ``shape`` (a tuple; None: any) and dtype kind ``kind``
    ('f' float, 'i' integer, 'b' bool, 'iu' any integer, 'fiu' any number; None: any). A Python
    number or bool counts as a 0-d array."""
    if type(value) in (bool, int, float) or type(value) in _NUMPY_SCALARS:
        value = np.array(value)  # a number (decode never makes numpy scalars: these are the check's own)
    if type(value) is not np.ndarray:
        raise AssertionError(f"{name}: expected an array, a tensor or a number, got {type(value).__name__}")
    if shape is not None and value.shape != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}, got shape {value.shape}")
    if kind is not None and value.dtype.kind not in kind:
        raise AssertionError(f"{name}: expected a {KINDS.get(kind, kind)} array, got dtype {value.dtype}")
    return value


def close(got, expected, rtol=1e-6, atol=0.0, msg="", name="the result") -> None:
    """``got`` (checked with ``array``: numeric, the shape of ``expected``) is within tolerance of
    ``expected`` everywhere; NaN never matches."""
    expected = np.asarray(expected, dtype=np.float64)
    got = array(got, shape=expected.shape, kind="fiub", name=name).astype(np.float64)
    ok = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=False)
    if not ok.all():
        where = np.argwhere(~ok)[:5].tolist() if got.ndim else []
        raise AssertionError(f"{msg}\n{name}: expected {_describe(expected)}, got {_describe(got)}"
                             + (f" (first mismatches at {where})" if where else ""))


def equal(got, expected, msg="", name="the result", kind=None) -> None:
    """``got`` has exactly the values (and shape) of ``expected``."""
    expected = np.asarray(expected)
    got = array(got, shape=expected.shape, kind=kind, name=name)
    if not np.array_equal(got, expected):
        raise AssertionError(f"{msg}\n{name}: expected {_describe(expected)}, got {_describe(got)}")
