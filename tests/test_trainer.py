"""The Trainer: one trace per run, learning, outputs, the non-finite guard."""

import json
import os

import keras
import numpy as np
import pytest

from mtl_tf.data import standardize
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.models import build_model
from mtl_tf.objectives import make_objective
from mtl_tf.training import TrainConfig, Trainer, TrainingError


def make_trainer(steps, run_dir=None, lr=3e-3, data_mode="task_sampled", tasks_per_step=None):
    keras.utils.set_random_seed(0)
    data = standardize(make_correlated_regression(num_examples=3000, correlation=0.8, seed=0))
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    config = TrainConfig(steps=steps, batch_size=32, learning_rate=lr, eval_every=40, log_every=10,
                         run_dir=run_dir, progress=False, data_mode=data_mode, tasks_per_step=tasks_per_step)
    return Trainer(model, data, make_objective("sum", data.tasks), config)


def test_step_is_traced_exactly_once_per_run(tmp_path):
    trainer = make_trainer(120, run_dir=str(tmp_path), tasks_per_step=1)
    trainer.fit()
    assert trainer.trace_count == 1, (
        f"the train step was traced {trainer.trace_count} times in one run; shapes or Python values "
        "passed to the step must not change between steps")


def test_training_beats_the_mean_baseline_and_writes_outputs(tmp_path):
    trainer = make_trainer(400, run_dir=str(tmp_path))
    results = trainer.fit()
    assert results["steps"] == 400 and set(results["tasks"]) == {"task1", "task2"}
    for name in ("task1", "task2"):
        assert results["tasks"][name]["rmse"] < 0.8 * results["baseline"][name]["rmse"], results
    assert all(results["beats_baseline"].values())
    assert os.listdir(tmp_path / "tensorboard")
    assert any(f.startswith("ckpt-400") for f in os.listdir(tmp_path / "checkpoints"))
    assert [h["step"] for h in trainer.history] == list(range(40, 401, 40))


def test_joint_mode_trains_too():
    results = make_trainer(200, data_mode="joint").fit()
    assert all(results["beats_baseline"].values()), results["tasks"]


def test_non_finite_loss_stops_with_the_task_named():
    trainer = make_trainer(300, lr=1e12)
    with pytest.raises(TrainingError, match=r"step \d+: non-finite loss for task\(s\) \[.*task"):
        trainer.fit()
