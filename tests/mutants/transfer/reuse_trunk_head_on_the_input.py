"""reuse_trunk attaches the new head to the raw input x, skipping the pre-trained trunk."""

TARGETS = ['tests/test_transfer.py::test_reuse_trunk_keeps_the_pretrained_weights',
           'tests/test_transfer.py::test_new_head_belongs_to_the_target_task']


def reuse_trunk(source_model, source_tasks, target_task, tower_units=(32,)):
    h = source_model.input["x"]
    for i, units in enumerate(tower_units):
        h = keras.layers.Dense(units, activation="relu", name=task_layer_name(target_task.name, f"tower.{i}"))(h)
    out = keras.layers.Dense(target_task.output_size, name=task_layer_name(target_task.name, "out"))(h)
    return keras.Model(inputs=source_model.input, outputs={target_task.name: out})
