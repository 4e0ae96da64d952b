"""Shared pieces of the benchmarks: repo on sys.path, alternating timed repeats, table + JSON.

Every benchmark measures its sides A/B/... alternated within each repeat in one process and
reports medians, so ratios are comparable even on a shared, noisy machine.
"""

import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def rate(fn, count: int) -> float:
    """count / seconds of ``fn()``, which does ``count`` units of work and blocks until done."""
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def alternate(sides: dict, repeats: int) -> dict:
    """{name: [rate per repeat]}: each repeat runs every side once, in order. ``sides``: name -> () -> rate."""
    rates = {name: [] for name in sides}
    for _ in range(repeats):
        for name, side in sides.items():
            rates[name].append(side())
    return rates


def medians(rates: dict) -> dict:
    return {name: statistics.median(v) for name, v in rates.items()}


def machine() -> dict:
    """Where the numbers were taken (for the JSON line)."""
    import tensorflow as tf
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    gpus = tf.config.list_physical_devices("GPU")
    return {"cpu": cpu, "cpus": os.cpu_count(), "load_1min": load, "device": "GPU" if gpus else "CPU",
            "tensorflow": tf.__version__}
