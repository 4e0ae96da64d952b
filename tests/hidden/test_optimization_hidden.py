"""Hidden graded tests (shipped only in the autograder bundle): optimization.

Converted tests: each ``compute_*`` runs with the submission and returns plain data; the check half
under ``@graded`` runs in the grader's trusted process on what was sent (see mtl_tf/grading/checked.py).
"""

import numpy as np
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded


def _masked_inputs():
    rng = np.random.default_rng(11)
    per_example = rng.normal(size=(9, 4)).astype(np.float32)
    masks = (rng.random((9, 4)) < 0.5).astype(np.float32)
    masks[:, 3] = 0.0
    masks[0, :3] = 1.0
    return per_example, masks


def compute_masked_task_losses():
    per_example, masks = _masked_inputs()
    losses, present = impl.module("optimization").masked_task_losses(tf.constant(per_example), tf.constant(masks))
    return {"losses": losses, "present": present}


@graded(points=1, compute=compute_masked_task_losses)
def test_masked_task_losses_on_random_masks_match_a_direct_mean(got):
    """Random losses and masks (one task never labelled): per-task means over the labelled examples."""
    per_example, masks = _masked_inputs()
    expected = [per_example[masks[:, t] == 1, t].mean() if masks[:, t].any() else 0.0 for t in range(4)]
    checks.close(got["losses"], expected, rtol=1e-5, atol=1e-6, name="losses", msg=(
        "losses[t] must be the mean of per_example_losses[:, t] over the examples with masks[:, t] == 1 "
        "(0 for a task without any)"))
    checks.equal(got["present"], [True, True, True, False], kind="b", name="present",
                 msg="present[t] is True exactly when task t has a labelled example")


def compute_sample_tasks(num_tasks, k):
    ids = impl.module("optimization").sample_tasks(tf.constant([5, 9], tf.int64), num_tasks, k)
    return {"ids": ids, "dtype": ids.dtype.name}


@graded(points=1, compute=compute_sample_tasks,
        cases={"7-1": dict(num_tasks=7, k=1), "7-7": dict(num_tasks=7, k=7), "3-2": dict(num_tasks=3, k=2)})
def test_sample_tasks_edge_sizes(got, num_tasks, k):
    """k = 1 and k = T work, with distinct ids in range and int32 dtype."""
    ids = checks.array(got["ids"], shape=(k,), kind="iu", name=f"sample_tasks(T={num_tasks}, k={k})")
    assert got["dtype"] == "int32" and ids.dtype == np.int32, f"expected int32 ids, got {got['dtype']}"
    assert len(set(ids.tolist())) == k and ids.min() >= 0 and ids.max() < num_tasks, (
        f"expected {k} distinct ids in [0, {num_tasks}), got {ids.tolist()}")
