"""Graded: conditioning on the task descriptor (slides 10-14) and the gated / independent builders."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import describe
from mtl_tf import impl
from mtl_tf.models import check_model_contract, split_variables
from mtl_tf.tasks import Task

TASKS = [Task("a", "regression"), Task("b", "multiclass", num_classes=3)]
SMALL = dict(hidden_units=(5, 4), tower_units=(3,))


def cond():
    return impl.module("conditioning")


def arrays(rng, *shapes):
    return [rng.normal(size=s).astype(np.float32) for s in shapes]


def copy_weights(src, dst, convert=None):
    """Give ``dst`` the weights of ``src``'s layers of the same name (``convert(layer, weights)`` may map them)."""
    for layer in src.layers:
        if layer.weights:
            weights = layer.get_weights()
            dst.get_layer(layer.name).set_weights(convert(layer, weights) if convert else weights)


def assert_same_predictions(model, reference, x, what):
    for t in TASKS:
        got, expected = np.asarray(model(x)[t.name]), np.asarray(reference(x)[t.name])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5,
                                   err_msg=f"task {t.name!r}: the {what} should predict the same: got "
                                           f"{describe(got)}, expected {describe(expected)}")


def inputs(rng, batch=6, dim=6):
    return {"x": rng.normal(size=(batch, dim)).astype(np.float32), "task": np.zeros(batch, np.int32)}


@pytest.mark.points(2)
def test_concat_and_additive_conditioning_are_the_same_layer(rng):
    """[h, z] @ K + b == h @ K[:F] + z @ K[F:] + b, both ways (slide 13)."""
    h, z, k, b = arrays(rng, (4, 5), (4, 3), (8, 2), (2,))
    concat = cond().concat_conditioning(h, z, k, b)
    additive = cond().additive_conditioning(h, z, k[:5], k[5:], b)
    expected = np.concatenate([h, z], axis=1) @ k + b
    np.testing.assert_allclose(concat, expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"concat_conditioning should be concat([h, z]) @ kernel + bias; got "
                                       f"{describe(concat)}, expected {describe(expected)}")
    np.testing.assert_allclose(additive, expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"additive_conditioning should be h @ kernel + z @ projection + bias; got "
                                       f"{describe(additive)}, expected {describe(expected)}")
    w, p = arrays(rng, (5, 2), (3, 2))
    back = cond().concat_conditioning(h, z, np.concatenate([w, p]), b)
    np.testing.assert_allclose(back, cond().additive_conditioning(h, z, w, p, b), rtol=1e-5, atol=1e-5,
                               err_msg="an additive layer (W, P) should equal the concat layer with kernel [W; P]")


@pytest.mark.points(3)
def test_concat_and_additive_builders_are_interchangeable(rng):
    """A concat-conditioned model's weights, split, make the additive model give the same outputs; and back."""
    keras.utils.set_random_seed(0)
    concat = cond().concat_conditioned((6,), TASKS, **SMALL)
    additive = cond().additive_conditioned((6,), TASKS, **SMALL)
    x = inputs(rng)

    def split(layer, weights):
        if layer.name.startswith("conditioned."):
            kernel, bias = weights
            f = kernel.shape[0] - len(TASKS)
            return [kernel[:f], bias, kernel[f:]]  # additive layer order: kernel, bias, projection
        return weights

    copy_weights(concat, additive, split)
    assert_same_predictions(additive, concat, x, "additive model with the concat model's split weights")
    keras.utils.set_random_seed(1)
    additive = cond().additive_conditioned((6,), TASKS, **SMALL)

    def stack(layer, weights):
        if layer.name.startswith("conditioned."):
            kernel, bias, projection = weights
            return [np.concatenate([kernel, projection]), bias]
        return weights

    copy_weights(additive, concat, stack)
    assert_same_predictions(concat, additive, x, "concat model with kernel [W; P] from the additive model")


@pytest.mark.points(2)
def test_multiplicative_conditioning_scales_and_shifts(rng):
    """h * (z @ S), and with a shift h * (z @ S) + z @ R (FiLM)."""
    h, z, s, r = arrays(rng, (4, 3), (4, 2), (2, 3), (2, 3))
    got = cond().multiplicative_conditioning(h, z, s)
    np.testing.assert_allclose(got, h * (z @ s), rtol=1e-5, atol=1e-5,
                               err_msg=f"expected h * (z @ scale), {describe(h * (z @ s))}; got {describe(got)}")
    got = cond().multiplicative_conditioning(h, z, s, r)
    np.testing.assert_allclose(got, h * (z @ s) + z @ r, rtol=1e-5, atol=1e-5,
                               err_msg="with a shift, expected h * (z @ scale) + z @ shift")


@pytest.mark.points(2)
def test_gated_outputs_select_the_task_network(rng):
    """sum_j z_j y_j: one-hot z picks y_task; a soft z mixes."""
    (ys,) = arrays(rng, (3, 4, 2))
    z = np.eye(4, dtype=np.float32)[[2, 0, 3]]
    got = np.asarray(cond().gated_outputs(ys, z))
    expected = ys[np.arange(3), [2, 0, 3]]
    np.testing.assert_allclose(got, expected, rtol=1e-6,
                               err_msg=f"with one-hot z, output b should be y_(task of b); got {describe(got)}")
    soft = np.full((3, 4), 0.25, np.float32)
    np.testing.assert_allclose(cond().gated_outputs(ys, soft), ys.mean(axis=1), rtol=1e-5, atol=1e-6,
                               err_msg="with z = 1/J everywhere the output should be the mean of the y_j")


@pytest.mark.points(3)
def test_multiplicative_conditioning_generalizes_gating(rng):
    """One-hot z and block weights: one wide multiplicatively-conditioned layer == T gated networks (slide 14)."""
    t, d, u, out = 3, 5, 4, 2
    x, = arrays(rng, (6, d))
    ws, bs = arrays(rng, (t, d, u), (t, u))
    head, = arrays(rng, (u, out))
    task = np.array([0, 2, 1, 1, 0, 2])
    z = np.eye(t, dtype=np.float32)[task]
    # gated: T networks relu(x W_j + b_j), selected by z, then a shared linear read-out
    ys = np.stack([np.maximum(x @ ws[j] + bs[j], 0) for j in range(t)], axis=1)
    gated = np.asarray(cond().gated_outputs(ys, z)) @ head
    # multiplicative: one layer of width T*U holding the T networks side by side, scaled by z @ S
    wide_kernel = np.concatenate(list(ws), axis=1)
    wide_bias = np.concatenate(list(bs))
    scale = np.kron(np.eye(t), np.ones((1, u))).astype(np.float32)  # S[j] = 1 on block j, 0 elsewhere
    h = cond().multiplicative_conditioning(x @ wide_kernel + wide_bias, z, scale)
    multiplicative = np.maximum(np.asarray(h), 0) @ np.tile(head, (t, 1))
    np.testing.assert_allclose(multiplicative, gated, rtol=1e-4, atol=1e-5,
                               err_msg=f"multiplicative conditioning with block weights should reproduce gating: "
                                       f"got {describe(multiplicative)}, gated model {describe(gated)}")


def _cross_task_gradients(model, tasks, x):
    """Problems found: a task's loss reaching another task's variables, or not reaching its own."""
    _, own = split_variables(model, tasks)
    report = []
    for t in tasks:
        others = [v for o in tasks if o.name != t.name for v in own[o.name]]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x)[t.name] ** 2)
        grads = tape.gradient(loss, others + own[t.name])
        for v, g in zip(others, grads):
            if g is not None and np.any(np.asarray(g) != 0):
                report.append(f"the loss of {t.name!r} has a non-zero gradient on {v.path}")
        if not any(g is not None and np.any(np.asarray(g) != 0) for g in grads[len(others):]):
            report.append(f"task {t.name!r} gets no gradient on its own network")
    return report


@pytest.mark.points(3)
@pytest.mark.parametrize("builder", ["gated", "independent"])
def test_gating_and_independent_have_zero_cross_task_gradients(builder, rng):
    """Task i's loss has exactly zero gradient on every other task's sub-network; nothing is shared."""
    keras.utils.set_random_seed(0)
    module = cond() if builder == "gated" else impl.module("architectures")
    model = getattr(module, builder)((6,), TASKS, **SMALL)
    shared, own = split_variables(model, TASKS)
    assert not shared, f"{builder} should share no trainable variable, but these are shared: " \
                       f"{[v.path for v in shared]}. Name every layer with task_layer_name(task, ...)."
    assert all(own[t.name] for t in TASKS), f"every task needs its own network; got {own}"
    problems = _cross_task_gradients(model, TASKS, inputs(rng))
    assert not problems, f"{builder}: " + "; ".join(problems)


def test_task_descriptor_choices_and_teaching_errors():
    """One-hot is the identity; embeddings are trainable; metadata must be [T, m]."""
    table, trainable = cond().descriptor_table(TASKS, "onehot")
    assert np.array_equal(table, np.eye(2)) and not trainable
    table, trainable = cond().descriptor_table(TASKS, "embedding", descriptor_dim=5)
    assert table.shape == (2, 5) and trainable
    table, trainable = cond().descriptor_table(TASKS, "metadata", descriptor_dim=4)
    assert table.shape == (2, 4) and not trainable and np.allclose(table.sum(axis=1), 1)
    given = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(cond().descriptor_table(TASKS, "metadata", task_metadata=given)[0], given)
    with pytest.raises(ValueError, match=r"one row per task \(T = 2\), got shape \(3, 2\)"):
        cond().descriptor_table(TASKS, "metadata", task_metadata=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="task_descriptor must be one of"):
        cond().descriptor_table(TASKS, "words")


@pytest.mark.parametrize("descriptor", ["embedding", "metadata"])
def test_conditioned_builders_take_every_descriptor(descriptor):
    keras.utils.set_random_seed(0)
    model = cond().film_conditioned((6,), TASKS, task_descriptor=descriptor, descriptor_dim=3, **SMALL)
    check_model_contract(model, TASKS, (6,))
    shared, _ = split_variables(model, TASKS)
    names = [v.path for v in shared]
    assert any("task_descriptor" in n for n in names) == (descriptor == "embedding"), names
