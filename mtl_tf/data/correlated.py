"""Correlated regression tasks with a set task correlation (Ma et al. 2018, MMoE, section 3.2).

Orthogonal unit vectors u1, u2 in R^d; w1 = c*u1, w2 = c*(p*u1 + sqrt(1-p^2)*u2);
x ~ N(0, I_d); y_t = w_t.x + sum_{i=1..m} sin(alpha_i * w_t.x + beta_i) + eps,
eps ~ N(0, 0.01) (variance); alpha_i, beta_i ~ N(0, 1) shared by both tasks.
The Pearson correlation of the linear parts w1.x and w2.x is exactly p in expectation.
Both tasks label every example (joint, multi-label data).
"""

import numpy as np

from mtl_tf.data.base import MultiTaskData, Split, split_indices
from mtl_tf.options import parameter_default
from mtl_tf.tasks import Task


def make_correlated_regression(num_examples: int = 12000, correlation: float = 0.8, input_dim: int = 100,
                               scale: float = 0.3, num_sines: int = 5, noise_var: float = 0.01,
                               seed: int = 0, return_linear: bool = False):
    """Generate the two-task dataset.

    Returns:
      MultiTaskData with tasks ``task1``, ``task2`` (regression) and x of shape [N, input_dim];
      with ``return_linear=True`` also the [N, 2] linear parts (w_t.x), for testing.
    """
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [-1, 1], got {correlation}.")
    if input_dim < 2:
        raise ValueError(f"input_dim must be >= 2 to hold two orthogonal vectors, got {input_dim}.")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((input_dim, 2)))
    u1, u2 = q[:, 0], q[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation ** 2) * u2)
    alpha = rng.standard_normal(num_sines)
    beta = rng.standard_normal(num_sines)
    x = rng.standard_normal((num_examples, input_dim))
    linear = np.stack([x @ w1, x @ w2], axis=1)
    sines = np.sin(linear[:, :, None] * alpha + beta).sum(axis=2)
    y = linear + sines + rng.normal(0.0, np.sqrt(noise_var), size=linear.shape)

    tasks = [Task("task1", "regression"), Task("task2", "regression")]
    whole = Split({"x": x.astype(np.float32)},
                  {t.name: y[:, i].astype(np.float32) for i, t in enumerate(tasks)},
                  {t.name: np.ones(num_examples, np.float32) for t in tasks})
    tr, va, te = split_indices(num_examples, seed=seed)
    data = MultiTaskData("correlated_regression", tasks, whole.take(tr), whole.take(va), whole.take(te),
                         description=f"MMoE synthetic regression, 2 tasks, correlation p={correlation}, "
                                     f"d={input_dim}")
    return (data, linear) if return_linear else data


OPTIONS = {"num_examples": parameter_default(make_correlated_regression, "num_examples"),
           "correlation": parameter_default(make_correlated_regression, "correlation")}


def load(fv, seed: int) -> MultiTaskData:
    """The ``--dataset=correlated_regression`` source; ``fv`` has the attributes of ``OPTIONS``."""
    return make_correlated_regression(num_examples=fv.num_examples, correlation=fv.correlation, seed=seed)
