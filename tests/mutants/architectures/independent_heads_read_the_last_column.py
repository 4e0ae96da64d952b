"""independent builds a column per task but every head reads the last column built (the heads are made after the loop)."""

TARGETS = ['tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients[independent]',
           'tests/test_builders.py::test_builder_parameter_count_and_variable_split[independent]']


def independent(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp",
                conv_filters=(16, 32)) -> keras.Model:
    inputs = model_inputs(input_shape)
    for t in tasks:
        h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, task_layer_name(t.name, "stem"))
        h = mlp(h, hidden_units, task_layer_name(t.name, "hidden"))
    outputs = {t.name: task_head(h, t, tower_units) for t in tasks}
    return keras.Model(inputs=inputs, outputs=outputs, name="independent")
