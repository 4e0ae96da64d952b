"""pareto_front keeps the points that dominate another, not the undominated ones."""

TARGETS = ['tests/test_objectives.py::test_pareto_tools']


def pareto_front(points):
    p = np.asarray(points, float)
    return np.array([any(dominates(x, q) for q in p) for x in p], dtype=bool)
