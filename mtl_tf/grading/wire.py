"""Plain data across the child -> parent pipe: JSON whose arrays are dtype, shape and base64 bytes.

``encode`` (in the child, or in a local pytest run) turns what a graded test's compute half returned
into JSON-able data: ``None``, ``bool``, ``int``, ``float`` (non-finite as a tagged string), ``str``,
lists, string-keyed dicts, and arrays as ``{"__ndarray__": [dtype name, shape, base64 bytes]}``.
Tensors, variables and numpy scalars become arrays; anything else is an error.

``decode`` (in the trusted parent) reads that data back without running any code of the sender's:
``json.loads`` builds only dicts, lists, strings and numbers; every array is checked (dtype from a
fixed list, shape of non-negative ints whose size matches the byte count, size bounds) and rebuilt
with ``np.frombuffer`` as a plain, owned ``np.ndarray``: no subclass, no mask, no ``__eq__`` of
the submission's. A value that fails any check raises ``WireError``.
"""

import base64
import math
from typing import Any

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64")
MAX_BYTES = 16 << 20        # all arrays of one value together
MAX_DEPTH = 20
MAX_ITEMS = 100_000         # list items and dict entries of one value together
ARRAY, FLOAT = "__ndarray__", "__float__"


class WireError(ValueError):
    """A value that cannot cross (encode) or is not well-formed data (decode)."""


def _as_array(value) -> np.ndarray:
    """A tensor, variable, numpy scalar or array as a plain numpy array (in the sender)."""
    if isinstance(value, np.ndarray):
        array = np.array(value, copy=True, subok=False)
    elif isinstance(value, np.generic):
        array = np.array(value)
    elif hasattr(value, "numpy") and type(value).__module__.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
        array = np.array(value.numpy(), copy=True, subok=False)
    elif type(value).__module__.split(".")[0] in ("tensorflow", "keras") and hasattr(value, "__array__"):
        array = np.array(value, copy=True, subok=False)
    else:
        raise WireError(f"cannot send a {type(value).__name__}: return numbers, strings, lists, dicts, "
                        "arrays or tensors")
    if array.dtype.name not in DTYPES:
        raise WireError(f"cannot send an array of dtype {array.dtype}: use a bool, integer or float dtype")
    return array


def encode(value: Any, _depth: int = 0, _budget=None) -> Any:
    """JSON-able plain data for ``value`` (see the module docstring); raises WireError."""
    budget = _budget if _budget is not None else [MAX_ITEMS, MAX_BYTES]
    if _depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError("value has too many items")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        if kind is int and abs(value) > 2 ** 63:
            raise WireError("integer too large")
        return value
    if kind is float:
        return value if math.isfinite(value) else {FLOAT: repr(value)}
    if kind in (list, tuple):
        return [encode(v, _depth + 1, budget) for v in value]
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise WireError("dict keys must be strings")
        return {k: encode(v, _depth + 1, budget) for k, v in value.items()}
    array = _as_array(value)
    budget[1] -= array.nbytes
    if budget[1] < 0:
        raise WireError("value too large")
    data = np.ascontiguousarray(array).tobytes()
    return {ARRAY: [array.dtype.name, list(array.shape), base64.b64encode(data).decode("ascii")]}


def decode(data: Any, _depth: int = 0, _budget=None) -> Any:
    """The value ``encode`` made, rebuilt from plain data only; raises WireError if malformed."""
    budget = _budget if _budget is not None else [MAX_ITEMS, MAX_BYTES]
    if _depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError("value has too many items")
    kind = type(data)
    if data is None or kind in (bool, str):
        return data
    if kind is int:
        if abs(data) > 2 ** 63:
            raise WireError("integer too large")
        return data
    if kind is float:
        if not math.isfinite(data):
            raise WireError("bare non-finite float")
        return data
    if kind is list:
        return [decode(v, _depth + 1, budget) for v in data]
    if kind is not dict:
        raise WireError(f"unexpected {kind.__name__}")
    if set(data) == {FLOAT}:
        if data[FLOAT] not in ("nan", "inf", "-inf"):
            raise WireError("bad float")
        return float(data[FLOAT])
    if set(data) == {ARRAY}:
        return _decode_array(data[ARRAY], budget)
    if any(type(k) is not str or k in (ARRAY, FLOAT) for k in data):
        raise WireError("bad dict key")
    return {k: decode(v, _depth + 1, budget) for k, v in data.items()}


def _decode_array(spec, budget) -> np.ndarray:
    if type(spec) is not list or len(spec) != 3:
        raise WireError("bad array")
    dtype_name, shape, payload = spec
    if type(dtype_name) is not str or dtype_name not in DTYPES:
        raise WireError(f"array dtype {dtype_name!r} not allowed")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and 0 <= n <= MAX_BYTES for n in shape):
        raise WireError("bad array shape")
    if type(payload) is not str:
        raise WireError("bad array bytes")
    dtype = np.dtype(dtype_name)
    size = math.prod(shape)
    if size * dtype.itemsize > MAX_BYTES or len(payload) > 4 * (MAX_BYTES // 3) + 4:
        raise WireError("array too large")
    try:
        raw = base64.b64decode(payload.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("bad array bytes") from None
    if len(raw) != size * dtype.itemsize:
        raise WireError(f"array bytes ({len(raw)}) do not match dtype {dtype_name} and shape {tuple(shape)}")
    budget[1] -= len(raw)
    if budget[1] < 0:
        raise WireError("value too large")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    assert type(array) is np.ndarray
    return array
