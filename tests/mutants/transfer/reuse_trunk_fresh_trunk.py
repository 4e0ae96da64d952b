"""reuse_trunk rebuilds the trunk with new layers (same names): the pre-trained weights are lost."""

TARGETS = ['tests/test_transfer.py::test_reuse_trunk_keeps_the_pretrained_weights']


def reuse_trunk(source_model, source_tasks, target_task, tower_units=(32,)):
    h = source_model.input["x"]
    for layer in source_model.layers:
        if isinstance(layer, keras.layers.Dense) and layer_owner(layer, [t.name for t in source_tasks]) is None:
            h = keras.layers.Dense(layer.units, activation=layer.activation, name=layer.name)(h)
    for i, units in enumerate(tower_units):
        h = keras.layers.Dense(units, activation="relu", name=task_layer_name(target_task.name, f"tower.{i}"))(h)
    out = keras.layers.Dense(target_task.output_size, name=task_layer_name(target_task.name, "out"))(h)
    return keras.Model(inputs=source_model.input, outputs={target_task.name: out})
