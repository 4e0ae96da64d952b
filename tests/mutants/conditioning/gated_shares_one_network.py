"""gated builds one network and gates copies of it: the tasks share every hidden weight."""

TARGETS = ['tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients[gated]',
           'tests/test_builders.py::test_builder_parameter_count_and_variable_split[gated]']


def gated(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp", conv_filters=(16, 32)):
    inputs = model_inputs(input_shape)
    y = mlp(backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem"), hidden_units, "hidden")
    ys = [y] * len(tasks)
    zs = TaskDescriptors(np.eye(len(tasks), dtype=np.float32), name="task_onehot")(ys[0])
    select = GatedSelect(name="gate")
    outputs = {t.name: task_head(select([*ys, z]), t, tower_units) for t, z in zip(tasks, zs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="gated")
