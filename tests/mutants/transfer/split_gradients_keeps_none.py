"""split_gradients keeps the pairs whose gradient is None (apply_gradients would fail on them)."""

TARGETS = ['tests/test_transfer.py::test_split_gradients_routes_trunk_and_head_and_drops_none']


def split_gradients(grads_and_vars, tasks):
    names = [t.name for t in tasks]
    trunk, head = [], []
    for g, v in grads_and_vars:
        (trunk if variable_owner(v, names) is None else head).append((g, v))
    return trunk, head
