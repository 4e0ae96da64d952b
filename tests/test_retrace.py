"""The compiled step is traced exactly once over a whole run, for the flag files' configurations.

Every flag file runs at least once (``benchmarks/retrace.py``'s ``combinations(full=False)``):
each ``flags/model_*.flags`` paired with one ``flags/objective_*.flags`` (cycling through them),
and each ``flags/grad_*.flags`` builds its method (the whole step under ``--jit_compile`` for four
of them; every method's combine compiled by XLA on its own). Each run is a short ``Trainer.fit``
on a small draw of the embedded data that still crosses a DWA epoch, logging and evaluation. The full model x objective
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
# model x objective pairs traced once here; below, every grad file builds its method and every
# method's combine compiles under XLA (tests/test_trainer.py's grid checks every method traced once
# without XLA)
COMBINATIONS = [files for files in retrace.combinations(full=False) if not retrace.name(files).startswith("grad_")]
GRAD_FILES = [[f] for f in retrace.flag_files("grad")]


def test_every_flag_file_is_covered():
    used = {f for files in COMBINATIONS + GRAD_FILES for f in files}
    every = set(retrace.flag_files("model") + retrace.flag_files("objective") + retrace.flag_files("grad"))
    assert every and used == every, f"flag files never run: {sorted(os.path.basename(f) for f in every - used)}"


@pytest.mark.parametrize("files", COMBINATIONS, ids=[retrace.name(f) for f in COMBINATIONS])
def test_step_is_traced_once_over_a_run(files):
    traces = retrace.count_traces(files, steps=4)
    assert traces == 1, (f"{retrace.name(files)}: the train step was traced {traces} times in one run; "
                         "expected 1 (a Python value or a changing shape/dtype reaching the step retraces it)")


# the whole step under --jit_compile, for one method of each kind: rows (pcgrad), a Gramian solver
# (mgda), representation rows (mgda_ub) and a stateful method (moco); every method's combine is
# compiled by XLA on its own below (cagrad's nested solver loops cost ~20 s of XLA compilation a time)
XLA_STEP_FILES = [[f] for f in retrace.flag_files("grad")
                  if os.path.basename(f) in {"grad_pcgrad.flags", "grad_mgda.flags", "grad_mgda_ub.flags",
                                             "grad_moco.flags"}]


@pytest.mark.parametrize("files", XLA_STEP_FILES, ids=[retrace.name(f) for f in XLA_STEP_FILES])
def test_the_whole_step_compiles_under_xla_and_traces_once(files):
    """--jit_compile: the whole step, gradient method included, is one XLA computation."""
    traces = retrace.count_traces(files, steps=4, extra=["--jit_compile"])
    assert traces == 1, f"{retrace.name(files)} with --jit_compile: the train step was traced {traces} times; expected 1"


@pytest.mark.parametrize("files", GRAD_FILES, ids=[retrace.name(f) for f in GRAD_FILES])
def test_every_grad_flag_file_builds_its_method(files):
    from absl.testing import flagsaver
    with flagsaver.flagsaver():
        method = retrace.build_from_flags(files)[3]
    expected = os.path.basename(files[0])[len("grad_"):-len(".flags")]
    if expected == "none":
        assert method is None, (files, method)
    else:
        assert method is not None and method.name_in_registry == expected, (files, method)


def _method_names():
    from mtl_tf.methods import METHODS
    return sorted(m for m, e in METHODS.items() if e is not None)


# random draws (weights, drop masks, visiting orders) differ inside and outside XLA
RANDOM = {"random", "graddrop", "gradvac", "pcgrad"}


@pytest.mark.parametrize("name", _method_names())
def test_every_gradient_method_combines_inside_xla_as_outside(name):
    """Each method's combine inside one XLA computation (K known when tracing, one branch per K):
    traced once over steps with both, one and the other of two tasks present; absent tasks get
    weight 0, and the update equals the update outside XLA (two instances, same seed, same steps;
    random methods: the combination of their weights)."""
    import numpy as np
    import tensorflow as tf
    from mtl_tf.methods import make_method
    from mtl_tf.models import build_model, split_variables
    from mtl_tf.objectives import make_objective
    from mtl_tf.tasks import Task

    tasks = [Task("task1", "regression"), Task("task2", "regression")]
    model = build_model("shared_bottom", (4,), tasks, hidden_units=[8])
    size = sum(int(np.prod(v.shape)) for v in split_variables(model, tasks)[0])   # P: the shared variables
    objective = make_objective("sum", tasks)
    inside, outside = (make_method(name, tasks, model=model, objective=objective, seed=3) for _ in range(2))
    traces = []

    @tf.function(jit_compile=True)
    def compiled(rows, present):
        traces.append(1)
        return inside.combine(rows, present)

    plain = tf.function(outside.combine)
    rng = np.random.default_rng(0)
    for present in ([True, True], [True, False], [False, True], [True, True]):
        rows = tf.constant(rng.normal(size=(2, size)), tf.float32)
        present = tf.constant(present)
        update, weights = (t.numpy() for t in compiled(rows, present))
        expected_update, expected_weights = (t.numpy() for t in plain(rows, present))
        where = f"{name}, present={present.numpy().tolist()}"
        assert np.all(np.isfinite(update)), f"{where}: non-finite update under XLA"
        assert np.all(weights[~present.numpy()] == 0), f"{where}: absent tasks got weights {weights}"
        if name in RANDOM:
            continue
        np.testing.assert_allclose(update, expected_update, rtol=2e-4, atol=2e-5,
                                   err_msg=f"{where}: the updates inside and outside XLA differ")
        np.testing.assert_allclose(weights, expected_weights, rtol=2e-4, atol=2e-5,
                                   err_msg=f"{where}: the weights inside and outside XLA differ")
    assert len(traces) == 1, f"{name}: the XLA-compiled combine was traced {len(traces)} times; expected 1"
