"""split_gradients calls every variable whose path has a '.' a head variable (shared.0 has one too)."""

TARGETS = ['tests/test_transfer.py::test_split_gradients_routes_trunk_and_head_and_drops_none',
           'tests/test_transfer.py::test_trunk_learns_at_the_scaled_rate']


def split_gradients(grads_and_vars, tasks):
    trunk, head = [], []
    for g, v in grads_and_vars:
        if g is not None:
            (head if "." in v.path else trunk).append((g, v))
    return trunk, head
