"""gated mixes the T networks with z = 1/T for every task instead of the one-hot task index: every task's loss leaks into every network."""

TARGETS = ['tests/test_conditioning.py::test_gating_and_independent_have_zero_cross_task_gradients[gated]']


def gated(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp", conv_filters=(16, 32)):
    inputs = model_inputs(input_shape)
    ys = []
    for t in tasks:
        h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, task_layer_name(t.name, "stem"))
        ys.append(mlp(h, hidden_units, task_layer_name(t.name, "hidden")))
    t_count = len(tasks)
    zs = TaskDescriptors(np.full((t_count, t_count), 1.0 / t_count, np.float32), name="task_onehot")(ys[0])
    select = GatedSelect(name="gate")
    outputs = {t.name: task_head(select([*ys, z]), t, tower_units) for t, z in zip(tasks, zs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="gated")
