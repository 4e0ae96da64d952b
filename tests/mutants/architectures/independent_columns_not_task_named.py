"""independent gives each task its own layers but names them "hidden_<task>.<i>" instead of with task_layer_name, so the framework treats them as shared."""

TARGETS = ['tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients[independent]',
           'tests/test_builders.py::test_builder_parameter_count_and_variable_split[independent]']


def independent(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp",
                conv_filters=(16, 32)) -> keras.Model:
    inputs = model_inputs(input_shape)
    outputs = {}
    for t in tasks:
        h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, f"stem_{t.name}")
        h = mlp(h, hidden_units, f"hidden_{t.name}")
        outputs[t.name] = task_head(h, t, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name="independent")
