"""shared_bottom names the towers without the task prefix (they count as shared)."""

TARGETS = ['tests/test_architectures.py::test_shared_bottom_variables_follow_the_naming_rule']


def shared_bottom(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,)):
    inputs = model_inputs(input_shape)
    h = inputs["x"]
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    h = mlp(h, hidden_units, "shared")
    outputs = {}
    for t in tasks:
        tower = mlp(h, tower_units, f"tower_{t.name}")
        outputs[t.name] = keras.layers.Dense(t.output_size, name=task_layer_name(t.name, "out"))(tower)
    return keras.Model(inputs=inputs, outputs=outputs, name="shared_bottom")
