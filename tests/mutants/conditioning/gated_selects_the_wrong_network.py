"""gated feeds task t's head from another task's network (the one-hot gates in reverse order)."""

TARGETS = ['tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients[gated]']


def gated(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp", conv_filters=(16, 32)):
    inputs = model_inputs(input_shape)
    ys = []
    for t in tasks:
        h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, task_layer_name(t.name, "stem"))
        ys.append(mlp(h, hidden_units, task_layer_name(t.name, "hidden")))
    zs = TaskDescriptors(np.eye(len(tasks), dtype=np.float32)[::-1].copy(), name="task_onehot")(ys[0])
    select = GatedSelect(name="gate")
    outputs = {t.name: task_head(select([*ys, z]), t, tower_units) for t, z in zip(tasks, zs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="gated")
