"""Hidden graded tests (shipped only in the autograder bundle): architectures.

Converted tests (``@graded``): ``compute_*`` runs with the submission and returns plain data; the check
half runs in the grader's trusted process on what was sent (see mtl_tf/grading/checked.py).
"""

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded


def _sluice_inputs():
    rng = np.random.default_rng(3)
    t, b, c, g = 3, 2, 6, 2
    cols = rng.normal(size=(t, b, c)).astype(np.float32)
    alpha = rng.normal(size=(t * g, t * g)).astype(np.float32)
    return cols, alpha, g


def compute_sluice_mix():
    cols, alpha, g = _sluice_inputs()
    return {"mixed": impl.module("architectures").sluice_mix(tf.constant(cols), tf.constant(alpha), g)}


@graded(points=1, compute=compute_sluice_mix)
def test_sluice_mix_on_random_alpha_matches_a_direct_loop(got):
    """T = 3 columns, G = 2 subspaces, random alpha: each output pair is alpha's mix of all pairs."""
    cols, alpha, g = _sluice_inputs()
    t, _, c = cols.shape
    k = c // g
    pairs = [cols[i, :, s * k:(s + 1) * k] for i in range(t) for s in range(g)]  # pair (i, s) at i * G + s
    expected = np.zeros_like(cols)
    for i in range(t):
        for s in range(g):
            expected[i, :, s * k:(s + 1) * k] = sum(alpha[i * g + s, j] * pairs[j] for j in range(t * g))
    mixed = checks.array(got["mixed"], shape=expected.shape, kind="f", name="sluice_mix (T, B, C)")
    checks.close(mixed, expected, rtol=1e-4, atol=1e-4, name="sluice_mix", msg=(
        "pair (t, g) is column t's channels [g*C/G, (g+1)*C/G) at index t*G + g (task-major); "
        "output pair i = sum_j alpha[i, j] * pair j"))


@pytest.mark.points(2)
def test_mmoe_each_task_mixes_the_shared_experts_with_its_own_gate_on_x():
    """Task t's tower reads sum_e softmax(x K_t + b_t)_e * expert_e(x): its own gate "<t>.gate" on the input x."""
    import keras

    from mtl_tf.tasks import Task

    tasks = [Task("a", "regression"), Task("b", "binary")]
    d, experts, units = 6, 3, 4
    keras.utils.set_random_seed(0)
    model = impl.module("architectures").mmoe((d,), tasks, num_experts=experts, expert_units=(units,),
                                              tower_units=(5,))
    names = [layer.name for layer in model.layers]
    x = np.random.default_rng(5).normal(size=(7, d)).astype(np.float32)
    inputs = {"x": x, "task": np.zeros(7, np.int32)}
    expert_names = [f"expert.{e}.0" for e in range(experts)]
    missing = [n for n in expert_names + [f"{t.name}.gate" for t in tasks] + [f"{t.name}.tower.0" for t in tasks]
               if n not in names]
    assert not missing, (f"expected shared experts named expert.<e> (built with mlp: layers expert.<e>.0), one gate "
                         f"per task named '<task>.gate' and task_head towers; missing {missing}, the model has "
                         f"layers {names}")
    expert_out = keras.Model(model.inputs, [model.get_layer(n).output for n in expert_names])(inputs)
    stacked = np.stack([np.asarray(e) for e in expert_out], axis=1)                      # [B, E, U]
    for t in tasks:
        gate = model.get_layer(f"{t.name}.gate")
        kernel, bias = [np.asarray(w) for w in gate.get_weights()]
        assert kernel.shape == (d, experts), (
            f"task {t.name!r}'s gate should read the input features x ([B, {d}]) and give one logit per expert: "
            f"kernel [{d}, {experts}], got {kernel.shape}")
        logits = x @ kernel + bias
        gates = np.exp(logits - logits.max(axis=1, keepdims=True))
        gates /= gates.sum(axis=1, keepdims=True)
        expected = np.einsum("be,beu->bu", gates, stacked)
        got = np.asarray(keras.Model(model.inputs, model.get_layer(f"{t.name}.tower.0").input)(inputs))
        assert got.shape == expected.shape, (f"task {t.name!r}'s tower should read a [B, {units}] mixture of the "
                                             f"experts, got shape {got.shape}")
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=(
            f"task {t.name!r}'s tower input should be sum_e softmax(x @ K + b)_e * expert_e(x) with the task's own "
            f"gate on x; expected first row {np.round(expected[0], 4)}, got {np.round(got[0], 4)}"))
