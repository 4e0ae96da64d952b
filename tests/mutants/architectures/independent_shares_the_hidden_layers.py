"""independent builds one stem and hidden MLP for all tasks (only the towers are per task): that is shared_bottom."""

TARGETS = ['tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients[independent]',
           'tests/test_builders.py::test_builder_parameter_count_and_variable_split[independent]']


def independent(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp",
                conv_filters=(16, 32)) -> keras.Model:
    inputs = model_inputs(input_shape)
    h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    h = mlp(h, hidden_units, "hidden")
    outputs = {t.name: task_head(h, t, tower_units) for t in tasks}
    return keras.Model(inputs=inputs, outputs=outputs, name="independent")
