"""Hidden graded tests (shipped only in the autograder bundle): transfer.

``test_finetune_phases_edges`` is converted (``@graded``): ``compute_*`` runs with the submission, the
check half in the grader's trusted process (see mtl_tf/grading/checked.py).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.grading import checks
from mtl_tf.grading.checked import graded
from mtl_tf.models import split_variables, variable_owner
from mtl_tf.tasks import Task

SOURCE = [Task("click", "binary"), Task("rating", "regression"), Task("genre", "multiclass", num_classes=4)]


def tr():
    return impl.module("transfer")


def _source(input_shape=(2, 3), hidden=(6,), tower=(3, 2)):
    keras.utils.set_random_seed(3)
    return impl.module("architectures").shared_bottom(input_shape, SOURCE, hidden_units=hidden, tower_units=tower)


@pytest.mark.points(1)
def test_reuse_trunk_on_image_like_input_and_deep_source_towers():
    """Multi-axis features (a Flatten in the trunk), three source heads with two-layer towers."""
    source = _source()
    shared_before = {v.path: v.numpy().copy() for v in split_variables(source, SOURCE)[0]}
    target = Task("watch", "regression")
    model = tr().reuse_trunk(source, SOURCE, target, tower_units=(5,))
    x = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32)
    out = model({"x": x, "task": np.zeros(4, np.int32)})
    assert sorted(out) == ["watch"] and tuple(out["watch"].shape) == (4, 1), (
        f"expected outputs {{'watch': (4, 1)}}, got {{{', '.join(f'{k!r}: {tuple(v.shape)}' for k, v in out.items())}}}")
    trunk, heads = split_variables(model, [target])
    assert {v.path for v in trunk} == set(shared_before), (
        f"trunk variables should be the source's shared ones {sorted(shared_before)}, got {sorted(v.path for v in trunk)}")
    for v in trunk:
        np.testing.assert_array_equal(v.numpy(), shared_before[v.path], err_msg=f"{v.path} is not the pre-trained value")
    assert sorted(tuple(v.shape) for v in heads["watch"]) == sorted([(6, 5), (5,), (5, 1), (1,)]), (
        f"the target head (tower 5, output 1 on 6 trunk features) owns {[tuple(v.shape) for v in heads['watch']]}")


@pytest.mark.points(1)
def test_freeze_then_a_gradient_step_moves_only_the_head():
    """A plain Adam step on model.trainable_variables after freezing leaves the trunk untouched."""
    target = Task("like", "binary")
    model = tr().reuse_trunk(_source(input_shape=(4,)), SOURCE, target, tower_units=())
    tr().set_trunk_trainable(model, [target], False)
    trunk = {v.path: v.numpy().copy() for v in model.variables if variable_owner(v, ["like"]) is None}
    opt = keras.optimizers.Adam(0.1)
    x = np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model({"x": x, "task": np.zeros(8, np.int32)})["like"] ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
    for v in model.variables:
        if v.path in trunk:
            np.testing.assert_array_equal(v.numpy(), trunk[v.path], err_msg=f"frozen {v.path} changed")
    changed = tr().set_trunk_trainable(model, [target], True)
    assert changed == ["shared.0"], f"expected the one trunk layer ['shared.0'] to be set, got {changed}"
    assert len(model.trainable_variables) == 4, (
        f"after unfreezing, trunk (2) and head (2) variables should be trainable, got "
        f"{[v.path for v in model.trainable_variables]}")


@pytest.mark.points(1)
def test_split_gradients_with_several_task_heads():
    """Every task's own variables go to the head group, whichever task owns them."""
    model = _source(input_shape=(4,), tower=())
    variables = list(model.trainable_variables)
    pairs = [(tf.zeros_like(v), v) for v in variables]
    trunk, head = tr().split_gradients(pairs, SOURCE)
    want_head = sorted(v.path for v in variables if variable_owner(v, [t.name for t in SOURCE]))
    assert sorted(v.path for _, v in head) == want_head, (
        f"head group should be every task's variables {want_head}, got {sorted(v.path for _, v in head)}")
    assert sorted(v.path for _, v in trunk) == ["shared.0/bias", "shared.0/kernel"], (
        f"trunk group should be ['shared.0/bias', 'shared.0/kernel'], got {sorted(v.path for _, v in trunk)}")


PHASE_CASES = {"gradual-7-7": dict(args=("gradual", 7, 7), want=[("head", 7, False)]),
               "gradual-1-0": dict(args=("gradual", 1, 0), want=[("full", 1, True)]),
               "head-3-0": dict(args=("head", 3, 0), want=[("head", 3, False)])}


def compute_finetune_phases(args, want):
    return {"phases": [list(p) for p in tr().finetune_phases(*args)]}


@graded(points=1, compute=compute_finetune_phases, cases=PHASE_CASES)
def test_finetune_phases_edges(got, args, want):
    """Head phase as long as the run; no head phase; head mode ignores head_steps."""
    phases = got["phases"]
    assert type(phases) is list and all(type(p) is list and len(p) == 3 for p in phases), (
        f"finetune_phases{args}: expected a list of (mode, steps, trunk_trainable) triples, got {phases}")
    as_tuples = [(p[0], checks.array(p[1], shape=(), kind="iu", name="steps").item(),
                  checks.array(p[2], shape=(), kind="b", name="trunk_trainable").item()) for p in phases]
    assert as_tuples == want, f"finetune_phases{args}: expected {want}, got {as_tuples}"
