"""finetune_phases "gradual" runs the full phase for all steps after the head phase (too many steps)."""

TARGETS = ['tests/test_transfer.py::test_finetune_phases']


def finetune_phases(mode, steps, head_steps):
    if mode not in FINETUNE_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "head":
        return [("head", steps, False)]
    if mode == "full":
        return [("full", steps, True)]
    return [p for p in [("head", head_steps, False), ("full", steps, True)] if p[1] > 0]
