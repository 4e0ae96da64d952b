"""shared_bottom builds one tower for all tasks (towers shared, only outputs per task)."""

TARGETS = ['tests/test_architectures.py::test_shared_bottom_parameter_count', 'tests/test_architectures.py::test_shared_bottom_variables_follow_the_naming_rule']


def shared_bottom(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,)):
    inputs = model_inputs(input_shape)
    h = inputs["x"]
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    h = mlp(mlp(h, hidden_units, "shared"), tower_units, "tower")
    outputs = {t.name: keras.layers.Dense(t.output_size, name=task_layer_name(t.name, "out"))(h) for t in tasks}
    return keras.Model(inputs=inputs, outputs=outputs, name="shared_bottom")
