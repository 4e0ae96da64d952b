"""Faults inside a run: non-finite losses (--nan_policy), a damaged newest checkpoint, resume."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data import standardize
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.models import build_model
from mtl_tf.objectives import make_objective
from mtl_tf.training import TrainConfig, Trainer, TrainingError


def _data(nan_task2=None):
    data = standardize(make_correlated_regression(num_examples=300, correlation=0.8, input_dim=8, seed=0))
    if nan_task2 is not None:   # poison task2's training labels (all, or every k-th)
        labels = np.array(data.train.labels["task2"], np.float32)
        labels[::nan_task2] = np.nan
        data.train.labels["task2"] = labels
    return data


def _trainer(data, run_dir=None, steps=20, objective="uncertainty", **config):
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    config = TrainConfig(steps=steps, batch_size=8, learning_rate=3e-3, eval_every=0, log_every=5,
                         run_dir=run_dir, progress=False, **config)
    return Trainer(model, data, make_objective(objective, data.tasks), config)


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


def test_skip_step_changes_no_variable_slot_or_objective_state():
    trainer = _trainer(_data(nan_task2=1), nan_policy="skip_step", steps=7)   # every step has task2 = NaN
    tracked = list(trainer.model.variables) + list(trainer.objective.variables)
    before = _values(tracked)
    results = trainer.fit()
    assert results["skipped_steps"] == 7, results["skipped_steps"]
    assert int(trainer.optimizer.iterations.numpy()) == 0, "a skipped step must not advance the optimizer"
    assert all(np.all(v.numpy() == 0) for v in trainer.optimizer.variables if v.name != "iteration" and
               "learning_rate" not in v.name), "a skipped step must not touch Adam's slots"
    for b, v in zip(before, tracked):
        np.testing.assert_array_equal(b, v.numpy(), err_msg=f"{v.name} changed on a skipped step")


def test_skip_step_skips_only_bad_steps_and_keeps_learning():
    trainer = _trainer(_data(nan_task2=40), nan_policy="skip_step", steps=30)  # a few poisoned examples
    results = trainer.fit()
    assert 0 < results["skipped_steps"] < 30, results["skipped_steps"]
    assert all(np.all(np.isfinite(v.numpy())) for v in trainer.model.variables)
    assert all(np.isfinite(m["rmse"]) for m in results["tasks"].values())
    assert int(trainer.optimizer.iterations.numpy()) == 30 - results["skipped_steps"]


def test_stop_names_the_task_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    import re
    trainer = _trainer(_data(nan_task2=1000), run_dir=str(tmp_path), steps=80, checkpoint_every=2, objective="sum")
    with pytest.raises(TrainingError, match=r"step \d+: non-finite loss or gradient for task\(s\) \['task2'\]") as err:
        trainer.fit()
    bad = int(re.search(r"step (\d+)", str(err.value)).group(1))
    assert bad > 2, f"the first poisoned batch came at step {bad}; the test needs a good checkpoint before it"
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    saved = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    assert bad - 2 <= saved < bad, f"newest checkpoint at step {saved}, bad step {bad}"
    assert all(np.all(np.isfinite(reader.get_tensor(k))) for k in reader.get_variable_to_shape_map()
               if reader.get_variable_to_dtype_map()[k].is_floating), "the kept checkpoint must be finite"


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    trainer = _trainer(_data(), run_dir=str(tmp_path), steps=20, checkpoint_every=10)
    trainer.fit()
    ckpts = tmp_path / "checkpoints"
    data_files = sorted(f for f in os.listdir(ckpts) if f.startswith("ckpt-20.data"))
    assert data_files, os.listdir(ckpts)
    with open(ckpts / data_files[0], "r+b") as f:   # a copy cut short
        f.truncate(16)
    resumed = _trainer(_data(), run_dir=str(tmp_path), steps=20, checkpoint_every=10)
    resumed.fit()
    out = capsys.readouterr().out
    assert "ckpt-20 is unusable" in out and "Resuming from step 10" in out, out
    assert resumed.resumed_from == 10 and int(resumed.step.numpy()) == 20


def test_resume_in_process_equals_an_uninterrupted_run(tmp_path):
    straight = _trainer(_data(), steps=20)
    straight.fit()
    first = _trainer(_data(), run_dir=str(tmp_path), steps=10)
    first.fit()
    second = _trainer(_data(), run_dir=str(tmp_path), steps=20)
    second.fit()
    assert second.resumed_from == 10
    for a, b in zip(list(straight.model.variables) + list(straight.objective.variables),
                    list(second.model.variables) + list(second.objective.variables)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.name)


def test_jit_compile_trains_with_one_trace():
    trainer = _trainer(_data(), steps=6, jit_compile=True)
    results = trainer.fit()
    assert trainer.trace_count == 1 and all(np.isfinite(m["rmse"]) for m in results["tasks"].values())
