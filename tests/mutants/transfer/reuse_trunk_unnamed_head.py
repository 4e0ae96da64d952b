"""reuse_trunk names the new head's layers without the target task's prefix (they count as trunk)."""

TARGETS = ['tests/test_transfer.py::test_new_head_belongs_to_the_target_task',
           'tests/test_transfer.py::test_reuse_trunk_keeps_the_pretrained_weights']


def reuse_trunk(source_model, source_tasks, target_task, tower_units=(32,)):
    h = trunk_features(source_model, source_tasks)
    for i, units in enumerate(tower_units):
        h = keras.layers.Dense(units, activation="relu", name=f"new_tower.{i}")(h)
    out = keras.layers.Dense(target_task.output_size, name="new_head")(h)
    return keras.Model(inputs=source_model.input, outputs={target_task.name: out})
