"""cross_stitch applies one shared Dense per layer to every column (hard sharing) before stitching them."""

TARGETS = ['tests/test_builders.py::test_cross_stitch_with_identity_mixing_is_independent_networks[cross_stitch]',
           'tests/test_builders.py::test_builder_parameter_count_and_variable_split[cross_stitch]']


def cross_stitch(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), cross_stitch_init=(0.9, 0.1),
                 backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    inputs = model_inputs(input_shape)
    hs = _task_stems(inputs, input_shape, tasks, backbone, conv_filters)
    same, other = cross_stitch_init
    for i, u in enumerate(hidden_units):
        dense = keras.layers.Dense(u, activation="relu", name=f"hidden.{i}")
        hs = CrossStitch(same, other, name=f"cross_stitch.{i}")([dense(h) for h in hs])
    outputs = {t.name: task_head(h, t, tower_units) for t, h in zip(tasks, hs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="cross_stitch")
