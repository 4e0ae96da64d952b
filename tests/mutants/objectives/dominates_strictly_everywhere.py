"""dominates requires a < b on every task."""

TARGETS = ['tests/test_objectives.py::test_pareto_tools']


def dominates(a, b):
    return bool(np.all(np.asarray(a, float) < np.asarray(b, float)))
