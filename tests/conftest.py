"""Shared test setup: quiet TensorFlow, absl flags parsed with their defaults, small helpers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from absl import flags  # noqa: E402

import mtl_tf.train  # noqa: E402,F401  (defines every mtl-train flag)

flags.FLAGS.mark_as_parsed()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def describe(array) -> str:
    """A short, student-readable description of an array's shape and values."""
    a = np.asarray(array)
    if a.size <= 8:
        return f"shape {a.shape}, values {np.array2string(a, precision=4)}"
    return f"shape {a.shape}, first values {np.array2string(a.reshape(-1)[:6], precision=4)} ..."
