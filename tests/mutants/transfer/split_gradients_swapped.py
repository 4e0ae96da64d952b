"""split_gradients returns (head, trunk): the head gets the small learning rate."""

TARGETS = ['tests/test_transfer.py::test_split_gradients_routes_trunk_and_head_and_drops_none',
           'tests/test_transfer.py::test_trunk_learns_at_the_scaled_rate']


def split_gradients(grads_and_vars, tasks):
    names = [t.name for t in tasks]
    trunk, head = [], []
    for g, v in grads_and_vars:
        if g is not None:
            (trunk if variable_owner(v, names) is None else head).append((g, v))
    return head, trunk
