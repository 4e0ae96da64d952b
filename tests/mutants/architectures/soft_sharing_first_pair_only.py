"""soft_sharing_penalty compares task 0 with task 1 only."""

TARGETS = ['tests/test_builders.py::test_soft_sharing_penalty_is_zero_iff_equal_and_matches_hand_value']


_reference_soft_sharing_penalty = soft_sharing_penalty


def soft_sharing_penalty(task_weights, weight=1.0):
    return _reference_soft_sharing_penalty(list(task_weights)[:2], weight)
