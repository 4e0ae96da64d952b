"""cross_stitch creates its units with the default (0.9, 0.1) whatever cross_stitch_init says."""

TARGETS = ['tests/test_builders.py::test_cross_stitch_with_identity_mixing_is_independent_networks[cross_stitch]']


def cross_stitch(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), cross_stitch_init=(0.9, 0.1),
                 backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    inputs = model_inputs(input_shape)
    hs = _task_stems(inputs, input_shape, tasks, backbone, conv_filters)
    for i, u in enumerate(hidden_units):
        hs = [keras.layers.Dense(u, activation="relu", name=f"{task_layer_name(t.name, 'hidden')}.{i}")(h)
              for t, h in zip(tasks, hs)]
        hs = CrossStitch(name=f"cross_stitch.{i}")(hs)
    outputs = {t.name: task_head(h, t, tower_units) for t, h in zip(tasks, hs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="cross_stitch")
