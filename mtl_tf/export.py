"""Export a trained contract model: ``.keras`` (Keras reload) and a SavedModel for serving.

The SavedModel has one signature, ``serving_default``, that takes the model's feature inputs
(every input of the contract except ``task``, which serving does not know) and returns every
task's prediction in the label's units as the trainer reports them: regression values
(un-standardized), binary P(y=1) [B], multiclass class probabilities [B, C].
"""

import os

import keras
import tensorflow as tf


def _serving_module(model, tasks) -> tf.Module:
    specs = {}
    for inp in model.inputs:
        name = inp.name.split(":")[0]
        if name == "task":
            continue
        specs[name] = tf.TensorSpec([None, *inp.shape[1:]], inp.dtype, name=name)
    module = tf.Module()
    module.model = model

    @tf.function(input_signature=[specs])
    def serve(features):
        batch = tf.shape(next(iter(features.values())))[0]
        outputs = model({**features, "task": tf.zeros([batch], tf.int32)}, training=False)
        result = {}
        for t in tasks:
            raw = outputs[t.name]
            if t.kind == "regression":
                result[t.name] = tf.reshape(raw, [-1]) * t.label_scale + t.label_mean
            elif t.kind == "binary":
                result[t.name] = tf.sigmoid(tf.reshape(raw, [-1]))
            else:
                result[t.name] = tf.nn.softmax(raw, axis=-1)
        return result

    module.serve = serve
    return module


def export(model, tasks, directory: str) -> dict:
    """Write ``directory/model.keras`` and ``directory/saved_model/``; returns both paths."""
    os.makedirs(directory, exist_ok=True)
    keras_path = os.path.join(directory, "model.keras")
    saved_path = os.path.join(directory, "saved_model")
    model.save(keras_path)
    module = _serving_module(model, tasks)
    tf.saved_model.save(module, saved_path, signatures={"serving_default": module.serve})
    return {"keras": keras_path, "saved_model": saved_path}
