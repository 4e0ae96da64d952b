"""pareto_front keeps only the first of duplicate points."""

TARGETS = ['tests/test_objectives.py::test_pareto_tools']


def pareto_front(points):
    p = np.asarray(points, float)
    keep = []
    for i, x in enumerate(p):
        duplicate = any(np.array_equal(x, p[j]) for j in range(i))
        keep.append(not duplicate and not any(dominates(q, x) for q in p))
    return np.array(keep, dtype=bool)
