"""Exact structural checks behind claims 1 and 2, run in the report process (small models, seconds).

The training comparisons of claims 1 and 2 are noisy over seeds; these checks show what the toolkit
can show exactly, on freshly built models (``mtl_tf.models.build_model``, small widths):

* claim 1: a concat-conditioned model's weights, its first kernel split into the x-part and the
  z-part (= the additive projection), make the additive model compute the same function;
* claim 2: the gated model shares no trainable variable across tasks, and task i's output has an
  exactly zero gradient on every other task's network (and a non-zero one on its own).
"""

from typing import Dict, List

import numpy as np

from mtl_tf.report import stats as S

TOL = 1e-5  # float32 round-off of a few small dense layers
INPUT_DIM = 6
NUM_TASKS = 4
SMALL = {"hidden_units": ["8", "6"], "tower_units": ["4"], "task_descriptor": "onehot"}  # no position tower


def _tasks():
    from mtl_tf.tasks import Task
    return [Task(f"task{i}", "binary") for i in range(NUM_TASKS)]


def _inputs(seed: int, batch: int = 32) -> dict:
    """{'x': [batch, INPUT_DIM] float32, 'task': [batch] int32 (every task id present)}."""
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(batch, INPUT_DIM)).astype(np.float32),
            "task": (np.arange(batch) % NUM_TASKS).astype(np.int32)}


def _build(name: str, seed: int):
    import keras
    from mtl_tf.models import build_model
    keras.utils.set_random_seed(seed)
    return build_model(name, (INPUT_DIM,), _tasks(), **SMALL)  # every other option at its default


def conditioning_equivalence(seed: int = 0) -> Dict[str, float]:
    """Build concat and additive models, give the additive one the concat one's weights (each conditioned
    layer's kernel [W_x; W_z] split into kernel W_x and projection W_z), compare outputs.

    Returns {"max_abs_diff": max over tasks and inputs of |concat - additive| output, "before": the same
    before the mapping (the models' own initialisations: shows the check can fail),
    "mapped_layers": how many conditioned layers were split, "max_abs_output": scale of the outputs}."""
    concat, additive = _build("concat", seed), _build("additive", seed + 1)
    x = _inputs(seed)
    before = _max_diff(concat(x), additive(x))
    mapped = 0
    for layer in concat.layers:
        if not layer.weights:
            continue
        weights = layer.get_weights()
        target = additive.get_layer(layer.name)
        if len(target.get_weights()) == 3 and len(weights) == 2:  # conditioned layer: kernel, bias, projection
            kernel, bias = weights
            f = kernel.shape[0] - NUM_TASKS  # one-hot z has NUM_TASKS rows at the end of the kernel
            weights = [kernel[:f], bias, kernel[f:]]
            mapped += 1
        target.set_weights(weights)
    a = concat(x)
    return {"max_abs_diff": _max_diff(a, additive(x)), "before": before, "mapped_layers": mapped,
            "max_abs_output": max(float(np.max(np.abs(np.asarray(a[k])))) for k in a)}


def _max_diff(a: dict, b: dict) -> float:
    """max over tasks and rows of |a[task] - b[task]|."""
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


def gating_independence(seed: int = 0) -> Dict[str, object]:
    """The gated model's variables by owner, and every task's output gradient on the other tasks' networks.

    Returns {"shared": [paths of trainable variables no task owns], "max_cross_grad": largest |gradient| of
    a task's summed squared output on another task's variables, "nonzero_cross": how many such gradients are
    non-zero, "own_grad_zero": [tasks whose own network gets no gradient], "variables": trainable count}."""
    import tensorflow as tf
    from mtl_tf.models import split_variables
    tasks = _tasks()
    model = _build("gated", seed)
    shared, own = split_variables(model, tasks)
    x = _inputs(seed)
    max_cross, nonzero, own_zero = 0.0, 0, []
    for t in tasks:
        others = [v for o in tasks if o.name != t.name for v in own[o.name]]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x)[t.name] ** 2)
        grads = tape.gradient(loss, others + own[t.name])
        for g in grads[:len(others)]:  # None: not connected at all (Keras 3 variables), i.e. zero
            if g is not None:
                m = float(np.max(np.abs(np.asarray(g)))) if np.size(g) else 0.0
                max_cross = max(max_cross, m)
                nonzero += int(m > 0)
        if not any(g is not None and np.any(np.asarray(g) != 0) for g in grads[len(others):]):
            own_zero.append(t.name)
    return {"shared": [v.path for v in shared], "max_cross_grad": max_cross, "nonzero_cross": nonzero,
            "own_grad_zero": own_zero, "variables": len(model.trainable_variables)}


def conditioning_verdict(check: Dict[str, float], tol: float = TOL) -> S.Verdict:
    """Supported when the mapped additive model reproduces the concat model within ``tol``."""
    text = (f"structure (exact): the concat model's weights, each first kernel split into the x-part and the "
            f"z-part (the additive projection), {check['mapped_layers']} layer(s), make the additive model "
            f"compute the same outputs: max |difference| {check['max_abs_diff']:.2g} (outputs up to "
            f"{check['max_abs_output']:.2g}, {check['before']:.2g} before the mapping; tolerance {tol:g})")
    if check["mapped_layers"] == 0:
        return S.Verdict(S.NOT_SUPPORTED, text + ": no conditioned layer was found to map")
    return S.Verdict(S.SUPPORTED if check["max_abs_diff"] <= tol else S.NOT_SUPPORTED, text)


def gating_verdict(check: Dict[str, object]) -> S.Verdict:
    """Supported when nothing trainable is shared, every cross-task gradient is exactly zero, and every
    task's own network gets a gradient."""
    shared: List[str] = check["shared"]
    text = (f"structure (exact): gated model, {check['variables']} trainable variables, {len(shared)} shared "
            f"across tasks; largest |gradient| of a task's output on another task's network "
            f"{check['max_cross_grad']:.2g} ({check['nonzero_cross']} non-zero); tasks without a gradient on "
            f"their own network: {check['own_grad_zero'] or 'none'}")
    ok = not shared and check["nonzero_cross"] == 0 and not check["own_grad_zero"]
    return S.Verdict(S.SUPPORTED if ok else S.NOT_SUPPORTED, text)
