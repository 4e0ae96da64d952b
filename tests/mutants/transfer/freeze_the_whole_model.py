"""set_trunk_trainable sets model.trainable: freezing the trunk freezes the head too."""

TARGETS = ['tests/test_transfer.py::test_set_trunk_trainable_freezes_only_the_trunk',
           'tests/test_transfer.py::test_frozen_trunk_is_bit_identical_after_training']


def set_trunk_trainable(model, tasks, trainable):
    model.trainable = trainable
    names = [t.name for t in tasks]
    return [layer.name for layer in model.layers if layer.weights and layer_owner(layer, names) is None]
