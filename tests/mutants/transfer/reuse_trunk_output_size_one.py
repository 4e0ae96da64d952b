"""reuse_trunk's head always has one output unit, whatever the target task's kind."""

TARGETS = ['tests/test_transfer.py::test_new_head_has_the_target_output_size',
           'tests/test_transfer.py::test_new_head_belongs_to_the_target_task']


def reuse_trunk(source_model, source_tasks, target_task, tower_units=(32,)):
    h = trunk_features(source_model, source_tasks)
    for i, units in enumerate(tower_units):
        h = keras.layers.Dense(units, activation="relu", name=task_layer_name(target_task.name, f"tower.{i}"))(h)
    out = keras.layers.Dense(1, name=task_layer_name(target_task.name, "out"))(h)
    return keras.Model(inputs=source_model.input, outputs={target_task.name: out})
