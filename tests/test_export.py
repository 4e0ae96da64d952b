"""Export: .keras and SavedModel serving signature reproduce the trained model's predictions."""

import keras
import numpy as np
import tensorflow as tf

from mtl_tf.export import export
from mtl_tf.models import model_inputs, task_layer_name
from mtl_tf.tasks import Task

TASKS = [Task("r", "regression").standardized(10.0, 3.0), Task("b", "binary"),
         Task("m", "multiclass", num_classes=3)]


def _model():
    keras.utils.set_random_seed(0)
    inputs = model_inputs((4,))
    h = keras.layers.Dense(6, activation="relu", name="shared.0")(inputs["x"])
    outs = {t.name: keras.layers.Dense(t.output_size, name=task_layer_name(t.name, "out"))(h) for t in TASKS}
    return keras.Model(inputs, outs)


def test_keras_and_saved_model_match_the_model(tmp_path):
    model = _model()
    paths = export(model, TASKS, str(tmp_path))
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    raw = model({"x": x, "task": np.zeros(5, np.int32)})

    loaded = keras.models.load_model(paths["keras"])
    again = loaded({"x": x, "task": np.zeros(5, np.int32)})
    for t in TASKS:
        np.testing.assert_allclose(again[t.name], raw[t.name], rtol=1e-6)

    serving = tf.saved_model.load(paths["saved_model"]).signatures["serving_default"]
    served = serving(x=tf.constant(x))
    for t in TASKS:
        expected = t.predictions(raw[t.name].numpy())
        np.testing.assert_allclose(served[t.name].numpy(), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=f"served {t.name} differs from the model's prediction")
    assert served["r"].shape == (5,) and served["m"].shape == (5, 3)
