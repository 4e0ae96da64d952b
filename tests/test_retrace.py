"""The compiled step is traced exactly once over a whole run, for the flag files' configurations.

Every flag file runs at least once (``benchmarks/retrace.py``'s ``combinations(full=False)``):
each ``flags/model_*.flags`` paired with one ``flags/objective_*.flags`` (cycling through them),
and each ``flags/grad_*.flags``. Each run is a short ``Trainer.fit`` on a small draw of the
embedded data that still crosses a DWA epoch, logging and evaluation. The full model x objective
matrix is left to ``python benchmarks/retrace.py`` (too slow for the suite).
"""

import importlib.util
import os

import pytest

from conftest import REPO


def _retrace_module():
    spec = importlib.util.spec_from_file_location("retrace_bench", os.path.join(REPO, "benchmarks", "retrace.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


retrace = _retrace_module()
COMBINATIONS = retrace.combinations(full=False)


def test_every_flag_file_is_covered():
    used = {f for files in COMBINATIONS for f in files}
    every = set(retrace.flag_files("model") + retrace.flag_files("objective") + retrace.flag_files("grad"))
    assert every and used == every, f"flag files never run: {sorted(os.path.basename(f) for f in every - used)}"


@pytest.mark.parametrize("files", COMBINATIONS, ids=[retrace.name(f) for f in COMBINATIONS])
def test_step_is_traced_once_over_a_run(files):
    traces = retrace.count_traces(files, steps=4)
    assert traces == 1, (f"{retrace.name(files)}: the train step was traced {traces} times in one run; "
                         "expected 1 (a Python value or a changing shape/dtype reaching the step retraces it)")


GRAD_FILES = [[f] for f in retrace.flag_files("grad")]


@pytest.mark.parametrize("files", GRAD_FILES, ids=[retrace.name(f) for f in GRAD_FILES])
def test_every_gradient_method_compiles_under_xla_and_traces_once(files):
    """--jit_compile: the whole step, gradient method included, is one XLA computation."""
    traces = retrace.count_traces(files, steps=4, extra=["--jit_compile"])
    assert traces == 1, f"{retrace.name(files)} with --jit_compile: the train step was traced {traces} times; expected 1"
