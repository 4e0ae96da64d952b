"""The Trainer: one trace per run, learning, outputs, the non-finite guard."""

import json
import os

import keras
import numpy as np
import pytest

from mtl_tf.data import standardize
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.models import build_model, model_inputs, task_layer_name
from mtl_tf.objectives import make_objective
from mtl_tf.training import TrainConfig, Trainer, TrainingError


def make_trainer(steps, run_dir=None, lr=3e-3, data_mode="task_sampled", tasks_per_step=None, num_examples=3000):
    keras.utils.set_random_seed(0)
    data = standardize(make_correlated_regression(num_examples=num_examples, correlation=0.8, seed=0))
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
    # 8000 examples: with 3000 the 400-step run overfits its small training split and the test rmse
    # sits at 0.79-0.83 x baseline whatever the seed or pipeline (sampling with or without replacement)
    trainer = make_trainer(400, run_dir=str(tmp_path), num_examples=8000)
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
    with pytest.raises(TrainingError, match=r"step \d+: non-finite loss or gradient for task\(s\) \[.*task"):
        trainer.fit()


# ---- every supported objective x gradient method: one trace, finite, learning ------------------------------

def _combo_objectives(tasks):
    from mtl_tf.objectives import (DWAObjective, GradNormObjective, MinMaxObjective, SumObjective,
                                   UncertaintyObjective, WeightedObjective)
    return {"sum": lambda: SumObjective(tasks), "weighted": lambda: WeightedObjective(tasks, [1.0, 0.5]),
            "minmax": lambda: MinMaxObjective(tasks, 0.0), "uncertainty": lambda: UncertaintyObjective(tasks),
            "dwa": lambda: DWAObjective(tasks, 2.0, epoch_steps=2), "gradnorm": lambda: GradNormObjective(tasks)}


def _combinations():
    """Every objective with no gradient method, and every gradient method once, its objective cycling
    through the four it combines with (sum and dwa: one task of two per step; weighted and
    uncertainty: both). The full matrix costs ~4 minutes; tests/test_retrace.py compiles every
    method's combine under XLA and builds every method's flag file."""
    from mtl_tf.methods import METHODS as GRAD_METHODS
    combos = [(o, "none") for o in ("sum", "weighted", "minmax", "uncertainty", "dwa", "gradnorm")]
    cycle = ("sum", "weighted", "dwa", "uncertainty")
    methods = sorted(m for m in GRAD_METHODS if m != "none")
    return combos + [(cycle[i % len(cycle)], m) for i, m in enumerate(methods)]


@pytest.fixture(scope="module")
def tiny_data():
    return standardize(make_correlated_regression(num_examples=300, correlation=0.8, input_dim=8, seed=0))


@pytest.mark.parametrize("objective,method", _combinations())
def test_every_objective_and_grad_method_traces_once(tiny_data, objective, method, tmp_path):
    from mtl_tf.methods import make_method
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", tiny_data.input_shape, tiny_data.tasks)
    obj = _combo_objectives(tiny_data.tasks)[objective]()
    grad_method = make_method(method, tiny_data.tasks, model=model, objective=obj)
    # one task of two present per step for some objectives, both for the others
    config = TrainConfig(steps=6, batch_size=8, learning_rate=3e-3, eval_every=0, log_every=3,
                         run_dir=str(tmp_path), progress=False,
                         tasks_per_step=1 if objective in ("sum", "dwa", "gradnorm") else None)
    trainer = Trainer(model, tiny_data, obj, config, grad_method=grad_method)
    results = trainer.fit()
    assert trainer.trace_count == 1, f"{objective} x {method}: traced {trainer.trace_count} times"
    assert all(np.isfinite(v["rmse"]) for v in results["tasks"].values())
    weights = obj.task_weights().numpy() if grad_method is None else grad_method.task_weights().numpy()
    assert weights.shape == (2,) and np.all(np.isfinite(weights))


def test_incompatible_combinations_are_refused():
    from mtl_tf.methods import make_method
    from mtl_tf.objectives import MinMaxObjective
    data = standardize(make_correlated_regression(num_examples=100, input_dim=4, seed=0))
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    with pytest.raises(ValueError, match="--objective=minmax cannot be combined with --grad_method=pcgrad"):
        make_method("pcgrad", data.tasks, model=model, objective=MinMaxObjective(data.tasks))


def test_grad_method_trains_joint_and_logs_its_weights(tmp_path):
    from mtl_tf.methods import make_method
    keras.utils.set_random_seed(0)
    data = standardize(make_correlated_regression(num_examples=3000, correlation=0.8, seed=0))
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    obj = make_objective("uncertainty", data.tasks)
    config = TrainConfig(steps=200, batch_size=32, learning_rate=3e-3, eval_every=0, log_every=50,
                         run_dir=str(tmp_path), progress=False, data_mode="joint")
    trainer = Trainer(model, data, obj, config, grad_method=make_method("mgda", data.tasks, model=model, objective=obj))
    results = trainer.fit()
    assert all(results["beats_baseline"].values()), results["tasks"]
    weights = trainer.grad_method.task_weights().numpy()
    assert np.all(weights > 0) and weights.sum() == pytest.approx(1.0, rel=1e-4), weights
    import tensorflow as tf
    tags = set()
    for f in os.listdir(tmp_path / "tensorboard"):
        for e in tf.compat.v1.train.summary_iterator(str(tmp_path / "tensorboard" / f)):
            tags.update(v.tag for v in e.summary.value)
    assert {"grad_weight/task1", "task_weight/task2"} <= tags, sorted(tags)
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    assert any("log_variances" in k for k in reader.get_variable_to_shape_map()), \
        "the uncertainty objective's s must be checkpointed"


def test_compare_runs_marks_the_pareto_optimal_ones(tmp_path):
    from mtl_tf.training.compare import compare_runs, format_comparison
    paths = []
    for name, (a, b) in {"r1": (1.0, 2.0), "r2": (2.0, 1.0), "r3": (2.0, 2.5), "r4": (0.9, 3.0)}.items():
        os.makedirs(tmp_path / name)
        with open(tmp_path / name / "metrics.json", "w") as f:
            json.dump({"tasks": {"a": {"rmse": a, "mae": 0.0}, "b": {"logloss": b, "accuracy": 1.0}}}, f)
        paths.append(str(tmp_path / name / "metrics.json"))
    runs = compare_runs(paths)
    assert {r["run"]: r["pareto"] for r in runs} == {"r1": True, "r2": True, "r3": False, "r4": True}
    assert runs[0]["metrics"] == {"a": 1.0, "b": 2.0}
    table = format_comparison(runs)
    assert table.splitlines()[0].split() == ["run", "a", "b", "pareto"] and table.count("*") == 3


def test_gradnorm_refuses_a_model_without_a_shared_kernel():
    from mtl_tf.objectives import GradNormObjective
    data = standardize(make_correlated_regression(num_examples=100, input_dim=4, seed=0))
    inputs = model_inputs(data.input_shape)
    model = keras.Model(inputs, {t.name: keras.layers.Dense(1, name=task_layer_name(t.name, "out"))(inputs["x"])
                                 for t in data.tasks})
    with pytest.raises(ValueError, match="gradnorm needs a shared layer with a kernel"):
        Trainer(model, data, GradNormObjective(data.tasks), TrainConfig(steps=1, progress=False))


def _two_adams(shared, lr_shared, lr_rest):
    """An optimizer made of two Adams (shared variables at one rate, the rest at another): what a
    fine-tuning hook may hand the Trainer. A tf.Module, so a checkpoint tracks both Adams."""
    import tensorflow as tf

    class TwoAdams(tf.Module):
        def __init__(self):
            super().__init__()
            self.shared = keras.optimizers.Adam(learning_rate=lr_shared)
            self.rest = keras.optimizers.Adam(learning_rate=lr_rest)
            self._shared_ids = frozenset(id(v) for v in shared)
            self.built = False

        def build(self, variables):
            self.shared.build([v for v in variables if id(v) in self._shared_ids])
            self.rest.build([v for v in variables if id(v) not in self._shared_ids])
            self.built = True

        def apply_gradients(self, pairs):
            pairs = list(pairs)
            self.shared.apply_gradients([(g, v) for g, v in pairs if id(v) in self._shared_ids])
            self.rest.apply_gradients([(g, v) for g, v in pairs if id(v) not in self._shared_ids])

    return TwoAdams()


def test_trainer_uses_and_checkpoints_a_given_optimizer(tmp_path):
    import tensorflow as tf
    from mtl_tf.models import split_variables
    keras.utils.set_random_seed(0)
    data = standardize(make_correlated_regression(num_examples=300, input_dim=8, seed=0))
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    shared = split_variables(model, data.tasks)[0]
    frozen = [np.array(v.numpy()) for v in shared]
    optimizer = _two_adams(shared, lr_shared=0.0, lr_rest=3e-3)   # lr 0: the shared layers stay as they are
    config = TrainConfig(steps=5, batch_size=8, eval_every=0, log_every=5, run_dir=str(tmp_path), progress=False)
    trainer = Trainer(model, data, make_objective("sum", data.tasks), config, optimizer=optimizer)
    assert trainer.optimizer is optimizer and optimizer.built
    trainer.fit()
    assert int(optimizer.rest.iterations.numpy()) == 5 and int(optimizer.shared.iterations.numpy()) == 5
    for before, v in zip(frozen, shared):
        np.testing.assert_array_equal(before, v.numpy())
    keys = tf.train.load_checkpoint(str(tmp_path / "checkpoints")).get_variable_to_shape_map()
    assert any(k.startswith("optimizer/rest/") for k in keys) and any(k.startswith("optimizer/shared/") for k in keys), \
        sorted(keys)[:20]


# ---- several steps per compiled call ------------------------------------------------------------------------

def _run_state(tiny_data, objective, method, steps_per_call, tmp_path, steps=17):
    """Everything a run leaves behind (weights, objective / method / guard state, history) after
    ``steps`` steps at ``steps_per_call`` steps per compiled call."""
    from mtl_tf.methods import make_method
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", tiny_data.input_shape, tiny_data.tasks)
    obj = _combo_objectives(tiny_data.tasks)[objective]()
    grad_method = make_method(method, tiny_data.tasks, model=model, objective=obj, seed=3)
    config = TrainConfig(steps=steps, batch_size=8, learning_rate=3e-3, eval_every=8, log_every=5,
                         checkpoint_every=0, run_dir=str(tmp_path), progress=False, tasks_per_step=1,
                         steps_per_call=steps_per_call)
    trainer = Trainer(model, tiny_data, obj, config, grad_method=grad_method)
    trainer.fit()
    state = [v.numpy() for v in model.variables] + [v.numpy() for v in obj.variables] + \
        [v.numpy() for v in trainer.guard.variables] + \
        ([] if grad_method is None else [v.numpy() for v in grad_method.variables])
    return trainer, state


@pytest.mark.parametrize("objective,method", [("dwa", "pcgrad"), ("gradnorm", "none"), ("uncertainty", "mgda_ub")])
def test_several_steps_per_call_give_the_same_run_as_one(tiny_data, objective, method, tmp_path):
    one, expected = _run_state(tiny_data, objective, method, 1, tmp_path / "one")
    many, got = _run_state(tiny_data, objective, method, 7, tmp_path / "many")
    assert many.trace_count == 1, f"{objective} x {method}: traced {many.trace_count} times with 7 steps per call"
    assert int(many.step.numpy()) == 17 and int(many.optimizer.iterations.numpy()) == 17
    assert [h["step"] for h in many.history] == [h["step"] for h in one.history] == [8, 16, 17]
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{objective} x {method}: 7 steps per call differ from 1 per call")
    saved = sorted(int(f.split("-")[1].split(".")[0]) for f in os.listdir(tmp_path / "many" / "checkpoints")
                   if f.startswith("ckpt-"))
    assert set(saved) == {16, 17}, saved   # evaluations at 8, 16, 17; two checkpoints kept


def test_several_steps_per_call_stop_at_the_bad_step(tmp_path):
    trainer = make_trainer(300, run_dir=str(tmp_path), lr=1e12)
    trainer.config.steps_per_call = 10
    with pytest.raises(TrainingError, match=r"step \d+: non-finite loss") as err:
        trainer.fit()
    bad = int(trainer.guard.bad_step.numpy())
    assert f"step {bad}:" in str(err.value)
    assert int(trainer.step.numpy()) == bad, "the in-graph loop must end at the bad step"
    saved = [f for f in os.listdir(tmp_path / "checkpoints") if f.startswith("ckpt-")] \
        if os.path.isdir(tmp_path / "checkpoints") else []
    assert all(int(f.split("-")[1].split(".")[0]) < bad for f in saved), (bad, saved)
