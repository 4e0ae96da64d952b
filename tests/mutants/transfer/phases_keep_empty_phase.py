"""finetune_phases keeps a phase of 0 steps (a Trainer with steps=0 cannot run)."""

TARGETS = ['tests/test_transfer.py::test_finetune_phases']


def finetune_phases(mode, steps, head_steps):
    if mode not in FINETUNE_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "head":
        return [("head", steps, False)]
    if mode == "full":
        return [("full", steps, True)]
    h = min(head_steps, steps)
    return [("head", h, False), ("full", steps - h, True)]
