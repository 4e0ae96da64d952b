"""dominates forgets 'and differs': a point dominates its copy."""

TARGETS = ['tests/test_objectives.py::test_pareto_tools']


def dominates(a, b):
    return bool(np.all(np.asarray(a, float) <= np.asarray(b, float)))
