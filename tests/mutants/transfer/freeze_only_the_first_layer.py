"""set_trunk_trainable freezes only the first trunk layer (the later ones keep training)."""

TARGETS = ['tests/test_transfer.py::test_set_trunk_trainable_freezes_only_the_trunk',
           'tests/test_transfer.py::test_frozen_trunk_is_bit_identical_after_training']


def set_trunk_trainable(model, tasks, trainable):
    names = [t.name for t in tasks]
    for layer in model.layers:
        if layer.weights and layer_owner(layer, names) is None:
            layer.trainable = trainable
            return [layer.name]
    return []
