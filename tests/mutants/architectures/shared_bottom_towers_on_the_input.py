"""shared_bottom puts each tower on x, skipping the shared trunk."""

TARGETS = ['tests/test_architectures.py::test_shared_bottom_task_loss_reaches_only_shared_and_own_head']


def shared_bottom(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,)):
    inputs = model_inputs(input_shape)
    h = inputs["x"]
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    trunk = mlp(h, hidden_units, "shared")
    outputs = {t.name: task_head(h, t, tower_units) for t in tasks}
    outputs[tasks[0].name] = outputs[tasks[0].name] + 0.0 * keras.ops.sum(trunk)
    return keras.Model(inputs=inputs, outputs=outputs, name="shared_bottom")
