"""Task families with controllable relatedness (multi-task classification, slides 5-6).

Each of T binary tasks has its own input distribution and its own labelling rule:

* p_i(x) = N(mu_i, I_d), with mu_i = ``input_shift`` * (a random unit vector per task);
* y = 1[w_i . x > 0], flipped with probability ``label_noise``, where the unit rule vectors are
  ``w_i = s_i * sqrt(|r|) * w_0 + sqrt(1 - |r|) * v_i``: w_0 a shared unit vector, v_i unit
  vectors orthogonal to w_0 and drawn per task, r = ``relatedness`` in [-1, 1], and the sign
  s_i = -1 for odd i when r < 0 (else +1).

So r = 1: every task has the same rule; r = 0: unrelated rules (independent directions);
r = -1: tasks 0, 2, 4, ... share one rule and tasks 1, 3, ... the opposite one (conflicting
gradients, negative transfer). For two tasks the cosine between the rules is r in expectation.
Every example belongs to one task: only its own task's mask is on (the loss is shared, p(x) is
not). ``imbalance`` makes the task sizes geometric, from n_max down to n_max / imbalance.
"""

import numpy as np

from mtl_tf.data.base import MultiTaskData, Split, concat_splits, split_indices
from mtl_tf.options import parameter_default
from mtl_tf.tasks import Task


def rule_vectors(num_tasks: int, dim: int, relatedness: float, rng) -> np.ndarray:
    """Unit rule vectors [T, dim] with the relatedness structure of the module docstring."""
    if not -1.0 <= relatedness <= 1.0:
        raise ValueError(f"relatedness must be in [-1, 1], got {relatedness}.")
    w0 = rng.standard_normal(dim)
    w0 /= np.linalg.norm(w0)
    v = rng.standard_normal((num_tasks, dim))
    v -= np.outer(v @ w0, w0)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sign = np.where((relatedness < 0) & (np.arange(num_tasks) % 2 == 1), -1.0, 1.0)
    r = abs(relatedness)
    return sign[:, None] * np.sqrt(r) * w0 + np.sqrt(1.0 - r) * v


def task_sizes(total: int, num_tasks: int, imbalance: float) -> np.ndarray:
    """Geometric task sizes summing to about ``total``, largest / smallest = ``imbalance``."""
    ratios = imbalance ** (-np.arange(num_tasks) / max(num_tasks - 1, 1))
    return np.maximum(np.round(total * ratios / ratios.sum()).astype(int), 10)


def make_families(num_examples: int = 12000, num_tasks: int = 4, relatedness: float = 0.5,
                  input_dim: int = 10, input_shift: float = 1.0, label_noise: float = 0.05,
                  imbalance: float = 1.0, seed: int = 0, return_rules: bool = False):
    """Generate the families; tasks ``task0``..``task{T-1}`` (binary), x of shape [N, input_dim].

    Returns:
      MultiTaskData, and with ``return_rules=True`` also (rules [T, d], means [T, d]).
    """
    if num_tasks < 2:
        raise ValueError(f"num_tasks must be >= 2, got {num_tasks}.")
    rng = np.random.default_rng(seed)
    rules = rule_vectors(num_tasks, input_dim, relatedness, rng)
    means = rng.standard_normal((num_tasks, input_dim))
    means *= input_shift / np.linalg.norm(means, axis=1, keepdims=True)
    tasks = [Task(f"task{i}", "binary") for i in range(num_tasks)]
    parts = {"train": [], "validation": [], "test": []}
    for i, n in enumerate(task_sizes(num_examples, num_tasks, imbalance)):
        x = means[i] + rng.standard_normal((n, input_dim))
        y = (x @ rules[i] > 0) ^ (rng.random(n) < label_noise)
        split = Split({"x": x.astype(np.float32)},
                      {t.name: (y if j == i else np.zeros(n, bool)).astype(np.int32) for j, t in enumerate(tasks)},
                      {t.name: np.full(n, float(j == i), np.float32) for j, t in enumerate(tasks)},
                      {"family": np.full(n, i, np.int32)})
        for name, index in zip(parts, split_indices(n, seed=seed * 1000 + i)):
            parts[name].append(split.take(index))
    splits = {name: concat_splits(p) for name, p in parts.items()}
    data = MultiTaskData("families", tasks, splits["train"], splits["validation"], splits["test"],
                         description=f"{num_tasks} binary task families, relatedness {relatedness}, "
                                     f"d={input_dim}, own p_i(x) per task, size imbalance {imbalance}")
    return (data, (rules, means)) if return_rules else data


OPTIONS = {"num_examples": parameter_default(make_families, "num_examples"),
           "relatedness": parameter_default(make_families, "relatedness"),
           "family_tasks": parameter_default(make_families, "num_tasks"),
           "family_imbalance": parameter_default(make_families, "imbalance")}


def load(fv, seed: int) -> MultiTaskData:
    """The ``--dataset=families`` source; ``fv`` has the attributes of ``OPTIONS``."""
    return make_families(num_examples=fv.num_examples, num_tasks=fv.family_tasks, relatedness=fv.relatedness,
                         imbalance=fv.family_imbalance, seed=seed)
