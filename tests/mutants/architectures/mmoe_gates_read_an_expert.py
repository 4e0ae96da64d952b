"""mmoe's gates read the first expert's output instead of the input features."""

TARGETS = ['tests/hidden/test_architectures_hidden.py::test_mmoe_each_task_mixes_the_shared_experts_with_its_own_gate_on_x',
           'tests/test_builders.py::test_mmoe_paper_configuration_parameter_count',
           'tests/test_builders.py::test_every_task_gate_is_a_distribution_per_example[mmoe]']


def mmoe(input_shape, tasks, num_experts=4, expert_units=(32,), tower_units=(16,), gate_dropout=0.0,
         backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    inputs = model_inputs(input_shape)
    h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    experts = _experts(h, num_experts, expert_units, "expert")
    outputs = {}
    for t in tasks:
        mixed = ExpertGate(num_experts, gate_dropout, name=task_layer_name(t.name, "gate"))([experts[0], *experts])
        outputs[t.name] = task_head(mixed, t, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name="mmoe")
