"""The Python API: typed Trainer arguments, your own Keras model (checked against the contract),
the Keras ``fit`` path running the Trainer's step, and the gradient-method registry."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.contract import check_contract
from mtl_tf.data import standardize, task_sampled_dataset
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.methods import METHODS, make_method
from mtl_tf.models import build_model, model_inputs, task_layer_name
from mtl_tf.tasks import Task
from mtl_tf.training import TrainConfig, Trainer
from mtl_tf.training.evaluation import model_feature_keys
from mtl_tf.training.keras_fit import MultiTaskModel


@pytest.fixture(scope="module")
def data():
    return standardize(make_correlated_regression(num_examples=1200, correlation=0.8, input_dim=6, seed=0))


def _twin_models(data, name="shared_bottom"):
    keras.utils.set_random_seed(1)
    a = build_model(name, data.input_shape, data.tasks)
    keras.utils.set_random_seed(1)
    b = build_model(name, data.input_shape, data.tasks)
    return a, b


@pytest.mark.parametrize("objective,method", [("sum", None), ("uncertainty", None), ("sum", "pcgrad")])
def test_keras_fit_runs_the_trainers_step(data, objective, method):
    """Same seed, same batches, same optimizer: after 60 steps Keras ``fit`` and the Trainer hold the
    same weights (the fit path calls the same step code) and log per-task losses and weights."""
    trained, fitted = _twin_models(data)
    Trainer(trained, data, objective=objective, grad_method=method, steps=60, batch_size=16, eval_every=0,
            progress=False, learning_rate=3e-3).fit()
    mt = MultiTaskModel(fitted, data.tasks, objective=objective, grad_method=method)
    mt.compile(optimizer=keras.optimizers.Adam(3e-3))
    stream = task_sampled_dataset(data.train, data.tasks, len(data.tasks), 16, 0, feature_keys=model_feature_keys(fitted))
    history = mt.fit(stream, steps_per_epoch=60, epochs=1, verbose=0).history
    for a, b in zip(trained.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{objective}/{method}: fit and Trainer differ")
    for t in data.tasks:
        assert f"loss/{t.name}" in history and f"weight/{t.name}" in history, sorted(history)
        assert np.isfinite(history[f"loss/{t.name}"][-1])


def test_keras_fit_callbacks_and_state_restore(data, tmp_path):
    """EarlyStopping, TensorBoard, ModelCheckpoint and BackupAndRestore run; the objective's learned
    state (uncertainty's log-variances) is saved with the weights and restored."""
    keras.utils.set_random_seed(2)
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    mt = MultiTaskModel(model, data.tasks, objective="uncertainty")
    mt.compile(optimizer=keras.optimizers.Adam(1e-2))
    stream = task_sampled_dataset(data.train, data.tasks, len(data.tasks), 16, 0, feature_keys=model_feature_keys(model))
    callbacks = [keras.callbacks.EarlyStopping(monitor="loss", patience=2),
                 keras.callbacks.TensorBoard(str(tmp_path / "tb")),
                 keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.weights.h5"), save_weights_only=True),
                 keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))]
    mt.fit(stream, steps_per_epoch=20, epochs=2, verbose=0, callbacks=callbacks)
    learned = [v.numpy().copy() for v in mt.mtl_objective.trainable_variables]
    assert any(np.any(np.abs(v) > 1e-4) for v in learned), "uncertainty's log-variances did not move"
    mt.save_weights(str(tmp_path / "w.weights.h5"))
    keras.utils.set_random_seed(3)
    again = MultiTaskModel(build_model("shared_bottom", data.input_shape, data.tasks), data.tasks, objective="uncertainty")
    again.compile(optimizer=keras.optimizers.Adam(1e-2))
    again.load_weights(str(tmp_path / "w.weights.h5"))
    again._load_state()
    for a, b in zip(learned, again.mtl_objective.trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), err_msg="the objective's state was not restored with the weights")
    assert (tmp_path / "tb").exists() and (tmp_path / "ckpt.weights.h5").exists()


def test_trainer_takes_names_options_and_config_fields(data):
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    trainer = Trainer(model, data, objective="weighted", grad_method="cagrad", steps=5, batch_size=8,
                      eval_every=0, progress=False, objective_options={"task_weights": [1.0, 2.0]},
                      method_options={"c": 0.8})
    assert trainer.grad_method.c == 0.8 and trainer.config.steps == 5
    assert np.allclose(trainer.objective.task_weights().numpy(), [1.0, 2.0])
    assert trainer.fit()["steps"] == 5
    with pytest.raises(ValueError, match="unknown option"):
        Trainer(model, data, objective="sum", stepz=3)
    with pytest.raises(ValueError, match="either config or its fields"):
        Trainer(model, data, "sum", TrainConfig(steps=1), steps=2)
    with pytest.raises(ValueError, match="has no option"):
        make_method("pcgrad", data.tasks, c=1.0)


def test_every_registered_method_is_built_by_name(data):
    keras.utils.set_random_seed(0)
    model = build_model("shared_bottom", data.input_shape, data.tasks)
    for name, entry in METHODS.items():
        method = make_method(name, data.tasks, model=model)
        assert (method is None) == (entry is None), name
        if method is not None:
            assert method.name_in_registry == name


# ---- your own model: the contract, checked ---------------------------------------------------------------

def _own_model(tasks, head_name=True, inputs_dict=True):
    inputs = model_inputs((4,))
    h = keras.layers.Dense(8, activation="relu", name="trunk")(inputs["x"])
    outs = {}
    for t in tasks:
        name = task_layer_name(t.name, "head") if head_name else f"head_{t.name}"
        outs[t.name] = keras.layers.Dense(t.output_size, name=name)(h)
    if not inputs_dict:
        return keras.Model(inputs["x"], outs)
    return keras.Model(inputs, outs)


def test_your_own_keras_model_is_accepted_when_it_follows_the_contract():
    tasks = [Task("click", "binary"), Task("watch", "regression")]
    check_contract(_own_model(tasks), tasks)


@pytest.mark.parametrize("broken,message", [
    ("unnamed_heads", r"layer 'head_click' feeds only task 'click' but its name does not say so.*click\.head_click"),
    ("not_a_dict", r"input must be a dict with 'x'"),
    ("missing_task", r"outputs are keyed \['click'\], expected one per task: \['click', 'watch'\]"),
    ("wrong_size", r"Output 'kind' has shape \(3, 1\); expected \(3, 3\)"),
])
def test_a_model_that_breaks_the_contract_is_refused_with_what_to_fix(broken, message):
    tasks = [Task("click", "binary"), Task("watch", "regression")]
    if broken == "unnamed_heads":
        model = _own_model(tasks, head_name=False)
    elif broken == "not_a_dict":
        model = _own_model(tasks, inputs_dict=False)
    elif broken == "missing_task":
        model = _own_model(tasks[:1])
    else:
        tasks = [Task("kind", "multiclass", num_classes=3)] + tasks
        model = _own_model([Task("kind", "binary")] + tasks[1:])
    with pytest.raises(ValueError, match=message):
        check_contract(model, tasks)


def test_the_trainer_checks_the_contract_first(data):
    model = _own_model([Task(t.name, t.kind) for t in data.tasks], head_name=False)
    inputs = model_inputs(data.input_shape)
    h = keras.layers.Dense(4, name="trunk")(inputs["x"])
    model = keras.Model(inputs, {t.name: keras.layers.Dense(1, name=f"out_{t.name}")(h) for t in data.tasks})
    with pytest.raises(ValueError, match="feeds only task"):
        Trainer(model, data, objective="sum", grad_method="mgda", steps=1)
    assert isinstance(tf.constant(0), tf.Tensor)
