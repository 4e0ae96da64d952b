"""finetune_phases marks the head-only phase as trunk-trainable (nothing gets frozen)."""

TARGETS = ['tests/test_transfer.py::test_finetune_phases',
           'tests/test_transfer.py::test_frozen_trunk_is_bit_identical_after_training']


def finetune_phases(mode, steps, head_steps):
    if mode not in FINETUNE_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "head":
        return [("head", steps, True)]
    if mode == "full":
        return [("full", steps, True)]
    h = min(head_steps, steps)
    return [p for p in [("head", h, True), ("full", steps - h, True)] if p[1] > 0]
