"""set_trunk_trainable sets the heads' layers instead of the trunk's (the trunk keeps training)."""

TARGETS = ['tests/test_transfer.py::test_set_trunk_trainable_freezes_only_the_trunk',
           'tests/test_transfer.py::test_frozen_trunk_is_bit_identical_after_training']


def set_trunk_trainable(model, tasks, trainable):
    names = [t.name for t in tasks]
    changed = []
    for layer in model.layers:
        if layer.weights and layer_owner(layer, names) is not None:
            layer.trainable = trainable
            changed.append(layer.name)
    return changed
