"""mmoe_on_shared builds the shared layer but its experts read the raw features."""

TARGETS = ['tests/test_ranking.py::test_mmoe_on_shared_puts_experts_and_gates_on_the_shared_layer']


def mmoe_on_shared(input_shape, tasks, hidden_units=(64,), num_experts=4, expert_units=(32,), tower_units=(16,),
                   gate_dropout=0.0, backbone="mlp", conv_filters=(16, 32)):
    inputs = model_inputs(input_shape)
    x = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    h = mlp(x, hidden_units, "shared")
    experts = _experts(x, num_experts, expert_units, "expert")
    outputs = {t.name: task_head(ExpertGate(num_experts, gate_dropout, name=task_layer_name(t.name, "gate"))(
        [h, *experts]), t, tower_units) for t in tasks}
    return keras.Model(inputs=inputs, outputs=outputs, name="mmoe_on_shared")
