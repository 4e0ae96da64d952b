"""Graded: the sharing builders and their math (cross-stitch, MMoE, CGC/PLE, soft sharing, deep relation,
task attention), and every ``--model`` builder's contract, variable split, training, saving and errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import describe
from mtl_tf import impl
from mtl_tf.data import standardize
from mtl_tf.data.correlated import make_correlated_regression
from mtl_tf.models import BUILDERS, check_model_contract, split_variables
from mtl_tf.objectives import make_objective
from mtl_tf.tasks import Task
from mtl_tf.training import TrainConfig, Trainer

TASKS = [Task("a", "regression"), Task("b", "multiclass", num_classes=3)]
D, H, W = 6, 8, 4          # input width, hidden width, tower width
COLUMNS = dict(hidden_units=(H,), tower_units=(W,))
EXPERTS = dict(num_experts=2, expert_units=(4,), tower_units=(W,))

# --model name -> small hyper-parameters for the tests
SMALL = {
    "shared_bottom": COLUMNS, "multi_head": COLUMNS, "independent": COLUMNS, "gated": COLUMNS, "mtan": COLUMNS,
    "soft_sharing": dict(COLUMNS, soft_sharing_weight=0.01), "cross_stitch": COLUMNS,
    "sluice": dict(COLUMNS, num_subspaces=2, orthogonality=0.01),
    "deep_relation": dict(COLUMNS, relation_weight=0.01),
    "concat": COLUMNS, "additive": COLUMNS, "multiplicative": COLUMNS, "film": COLUMNS,
    "mmoe": dict(EXPERTS, gate_dropout=0.2), "cgc": dict(EXPERTS, num_task_experts=1),
    "ple": dict(EXPERTS, num_task_experts=1, num_levels=2),
    "mmoe_shared": dict(EXPERTS, hidden_units=(H,), gate_dropout=0.2),
}


def head(width, out):
    return width * W + W + W * out + out


HEADS = head(H, 1) + head(H, 3)              # one tower per task on width-H features
EXPERT_HEADS = head(4, 1) + head(4, 3)       # towers on a width-4 mixture
DENSE = D * H + H                            # one d -> H layer
T = len(TASKS)
# --model name -> (parameter count, trainable shared variables, trainable variables per task), derived by hand
EXPECTED = {
    "shared_bottom": (DENSE + HEADS, 2, 4),
    "multi_head": (DENSE + HEADS, 2, 4),
    "independent": (T * DENSE + HEADS, 0, 6),
    "soft_sharing": (T * DENSE + HEADS, 0, 6),
    "gated": (T * DENSE + HEADS + T * T, 0, 6),                 # + the fixed one-hot table
    "cross_stitch": (T * DENSE + HEADS + T * T * H, 1, 6),      # + alpha [T, T, H]
    "sluice": (T * DENSE + HEADS + (T * 2) ** 2 + T, 1, 7),   # + alpha [T*G, T*G], one beta per task
    "mtan": (DENSE + T * (H * H + H) + HEADS, 2, 6),            # + one H -> H attention per task
    "deep_relation": (DENSE + HEADS, 2, 4),
    "concat": ((D + T) * H + H + T * T + HEADS, 2, 4),          # kernel [D + m, H], m = T one-hot
    "additive": (D * H + T * H + H + T * T + HEADS, 3, 4),      # + projection [m, H]
    "multiplicative": (D * H + H + T * H + T * T + HEADS, 3, 4),  # + scale [m, H]
    "film": (D * H + H + 2 * T * H + T * T + HEADS, 4, 4),      # + scale and shift
    "mmoe": (2 * (D * 4 + 4) + T * (D * 2 + 2) + EXPERT_HEADS, 4, 6),
    "cgc": (2 * (D * 4 + 4) + T * (D * 4 + 4) + T * (D * 3 + 3) + EXPERT_HEADS, 4, 8),
    "ple": (2 * (D * 4 + 4) + T * (D * 4 + 4) + T * (D * 3 + 3) + (D * 4 + 4)   # level 0 + shared gate
            + 2 * (4 * 4 + 4) + T * (4 * 4 + 4) + T * (4 * 3 + 3) + EXPERT_HEADS, 10, 12),
    "mmoe_shared": (DENSE + 2 * (H * 4 + 4) + T * (H * 2 + 2) + EXPERT_HEADS, 6, 6),   # experts, gates on shared.0
}


def arch():
    return impl.module("architectures")


def build(name, tasks=TASKS, input_shape=(D,), seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    spec = BUILDERS[name]
    model = getattr(impl.module(spec.module), spec.function)(input_shape, tasks, **{**SMALL[name], **overrides})
    check_model_contract(model, tasks, input_shape)
    return model


def example(rng, batch=5, shape=(D,)):
    return {"x": rng.normal(size=(batch, *shape)).astype(np.float32), "task": np.zeros(batch, np.int32)}


def test_every_builder_has_test_settings():
    assert set(SMALL) == set(BUILDERS) == set(EXPECTED), "add new --model values to SMALL and EXPECTED"


# ---- the math ----------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_cross_stitch_mix_matches_hand_values():
    """out[t] = sum_s alpha[t, s] * h_s per channel; the identity alpha changes nothing."""
    cols = np.array([[[1.0, 2.0]], [[3.0, 5.0]]], np.float32)          # [T=2, B=1, C=2]
    alpha = np.array([[[0.9, 1.0], [0.1, 0.0]], [[0.2, 0.5], [0.8, 0.5]]], np.float32)
    got = np.asarray(arch().cross_stitch_mix(cols, alpha))
    expected = np.array([[[0.9 * 1 + 0.1 * 3, 2.0]], [[0.2 * 1 + 0.8 * 3, 0.5 * 2 + 0.5 * 5]]], np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6,
                               err_msg=f"expected {describe(expected)}, got {describe(got)}")
    eye = np.broadcast_to(np.eye(2, dtype=np.float32)[:, :, None], (2, 2, 2))
    np.testing.assert_array_equal(arch().cross_stitch_mix(cols, eye), cols,
                                  err_msg="identity mixing must return the columns unchanged")


@pytest.mark.points(2)
def test_sluice_mix_matches_hand_values():
    """Pairs (task, subspace) are mixed by alpha and put back in the columns' layout."""
    cols = np.array([[[1.0, 2.0]], [[3.0, 4.0]]], np.float32)    # T=2, B=1, C=2, G=2: pairs 1, 2, 3, 4
    alpha = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0.5, 0, 0, 0.5]], np.float32)
    got = np.asarray(arch().sluice_mix(cols, alpha, 2))
    expected = np.array([[[1.0, 3.0]], [[2.0, 2.5]]], np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=(
        f"expected {describe(expected)}, got {describe(got)}; pair (t, g) is column t's channels "
        "[g*C/G, (g+1)*C/G) at index t*G + g"))


@pytest.mark.points(3)
@pytest.mark.parametrize("name", ["cross_stitch", "sluice"])
def test_cross_stitch_with_identity_mixing_is_independent_networks(name, rng):
    """With (alpha_same, alpha_other) = (1, 0) and independent's weights the model predicts exactly the same."""
    independent = build("independent")
    stitched = build(name, seed=1, cross_stitch_init=(1.0, 0.0))
    for layer in independent.layers:
        if layer.weights:
            stitched.get_layer(layer.name).set_weights(layer.get_weights())
    x = example(rng)
    for t in TASKS:
        a, b = np.asarray(stitched(x)[t.name]), np.asarray(independent(x)[t.name])
        np.testing.assert_array_equal(a, b, err_msg=f"task {t.name!r}: cross-stitch with identity mixing "
                                                    f"{describe(a)} differs from independent networks {describe(b)}")
    alphas = [v for v in stitched.trainable_variables if v.path.startswith(("cross_stitch.", "sluice."))]
    assert alphas, "no mixing unit found: name them cross_stitch.<i>"


@pytest.mark.points(2)
def test_mixture_of_experts_gates_are_distributions_and_mix():
    """gates = softmax(logits) (>= 0, rows sum to 1); mixed = sum_e gates_e * expert_e."""
    experts = np.array([[[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]]], np.float32)   # [B=1, E=3, U=2]
    logits = np.log(np.array([[0.5, 0.25, 0.25]], np.float32))
    mixed, gates = arch().mixture_of_experts(experts, logits)
    np.testing.assert_allclose(gates, [[0.5, 0.25, 0.25]], rtol=1e-5, err_msg=f"gates: got {describe(gates)}")
    np.testing.assert_allclose(mixed, [[1.5, 1.5]], rtol=1e-5, err_msg=f"mixed: got {describe(mixed)}, "
                                                                        "expected 0.5*e0 + 0.25*e1 + 0.25*e2")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", ["mmoe", "ple"])
def test_every_task_gate_is_a_distribution_per_example(name, rng):
    """In the built model, each task's gate over experts is non-negative and sums to 1 for every example."""
    model = build(name)
    x = tf.constant(example(rng, batch=7)["x"])
    gates = [layer for layer in model.layers if "gate" in layer.name]
    assert len(gates) >= len(TASKS), f"expected a gate per task, found layers {[l.name for l in model.layers]}"
    for layer in gates:
        if not layer.name.endswith((".gate", ".gate.0", "shared_gate.0")):
            continue  # deeper PLE gates read the level's outputs, not x
        g = np.asarray(layer.gates(x))
        assert g.shape == (7, layer.num_experts) and np.all(g >= 0) and np.allclose(g.sum(axis=1), 1, atol=1e-5), \
            f"gate {layer.name!r}: expected [7, {layer.num_experts}] non-negative rows summing to 1, got {describe(g)}"


@pytest.mark.points(2)
def test_soft_sharing_penalty_is_zero_iff_equal_and_matches_hand_value():
    """lambda * sum_{t<t'} ||theta_t - theta_t'||^2 over all parameter tensors."""
    same = [[np.ones((2, 2), np.float32), np.zeros(2, np.float32)]] * 3
    zero = float(arch().soft_sharing_penalty(same, 0.5))
    assert zero == 0.0, f"equal parameters must give 0, got {zero}"
    params = [[np.array(k, np.float32), np.array(b, np.float32)]
              for k, b in [([[1.0, 2.0]], [0.0]), ([[0.0, 2.0]], [1.0]), ([[1.0, 0.0]], [3.0])]]
    # pairs: (0,1): 1 + 0 + 1 = 2; (0,2): 0 + 4 + 9 = 13; (1,2): 1 + 4 + 4 = 9 -> 24
    got = float(arch().soft_sharing_penalty(params, 0.5))
    assert got == pytest.approx(12.0), f"expected 0.5 * (2 + 13 + 9) = 12, got {got}"
    assert float(arch().soft_sharing_penalty(params[:1] * 2 + params[1:2], 1.0)) > 0, "different must be > 0"


@pytest.mark.points(2)
def test_deep_relation_regularizer_and_task_covariance_match_hand_values():
    """tr(W Omega^-1 W^T) and Omega = (W^T W)^(1/2) / tr(...)."""
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    omega = np.array([[2.0, 1.0], [1.0, 2.0]], np.float32)
    # Omega^-1 = [[2, -1], [-1, 2]] / 3; each row r of W gives r Omega^-1 r^T = 2/3 -> 2
    got = float(arch().deep_relation_regularizer(w, omega))
    assert got == pytest.approx(2.0, rel=1e-5), f"expected tr(W Omega^-1 W^T) = 2, got {got}"
    w = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]], np.float32)    # W^T W = diag(9, 1)
    cov = np.asarray(arch().task_covariance(w, eps=0.0))
    np.testing.assert_allclose(cov, [[0.75, 0.0], [0.0, 0.25]], atol=1e-5,
                               err_msg=f"expected diag(3, 1) / 4, got {describe(cov)}")


@pytest.mark.points(1)
def test_attention_mask_is_a_sigmoid_gate():
    """features * sigmoid(logits)."""
    f = np.array([[2.0, -4.0, 1.0]], np.float32)
    got = np.asarray(arch().attention_mask(f, np.array([[0.0, 100.0, -100.0]], np.float32)))
    np.testing.assert_allclose(got, [[1.0, -4.0, 0.0]], atol=1e-5, err_msg=f"got {describe(got)}")


# ---- every builder ------------------------------------------------------------------------------

NAMES = sorted(BUILDERS)


@pytest.mark.points(1)
@pytest.mark.parametrize("name", NAMES)
def test_builder_parameter_count_and_variable_split(name):
    """The builder has the parameters its docstring describes; shared / task-owned follows the naming rule."""
    model = build(name)
    count, n_shared, n_own = EXPECTED[name]
    assert model.count_params() == count, (
        f"{name}: expected {count} parameters for input {D}, hidden {H}, towers {W} ({SMALL[name]}), "
        f"got {model.count_params()}")
    shared, own = split_variables(model, TASKS)
    assert len(shared) == n_shared, f"{name}: expected {n_shared} shared variables, got {[v.path for v in shared]}"
    for t in TASKS:
        assert len(own[t.name]) == n_own, (f"{name}: task {t.name!r} should own {n_own} variables, got "
                                           f"{[v.path for v in own[t.name]]}")


@pytest.mark.points(3)
def test_mmoe_paper_configuration_parameter_count():
    """Ma et al. 2018: d = 100, 8 experts of 16 units, towers of 8, 2 tasks."""
    tasks = [Task("task1", "regression"), Task("task2", "regression")]
    model = arch().mmoe((100,), tasks, num_experts=8, expert_units=(16,), tower_units=(8,))
    experts = 8 * (100 * 16 + 16)          # 12928
    gates = 2 * (100 * 8 + 8)              # one softmax gate per task over 8 experts: 1616
    towers = 2 * (16 * 8 + 8 + 8 * 1 + 1)  # 16 -> 8 -> 1 per task: 290
    assert model.count_params() == experts + gates + towers == 14834, (
        f"expected {experts} (experts) + {gates} (gates) + {towers} (towers) = 14834 parameters, "
        f"got {model.count_params()}")


def _data():
    return standardize(make_correlated_regression(num_examples=600, correlation=0.8, input_dim=D, seed=0))


def _mean_loss(model, tasks, split):
    out = model({"x": split.features["x"], "task": np.zeros(split.size, np.int32)})
    return float(np.mean([np.mean(t.loss(t.training_labels(split.labels[t.name]), out[t.name])) for t in tasks]))


@pytest.mark.points(1)
@pytest.mark.parametrize("name", NAMES)
def test_builder_trains_through_the_real_loop(name):
    """A few task-sampled steps of the Trainer lower the loss, with the step traced once."""
    data = _data()
    model = build(name, data.tasks)
    before = _mean_loss(model, data.tasks, data.train)
    config = TrainConfig(steps=25, batch_size=32, learning_rate=1e-2, eval_every=0, log_every=25, progress=False)
    trainer = Trainer(model, data, make_objective("sum", data.tasks), config)
    trainer.fit()
    after = _mean_loss(model, data.tasks, data.train)
    assert trainer.trace_count == 1, f"{name}: the step was traced {trainer.trace_count} times"
    assert after < 0.9 * before, f"{name}: training loss went from {before:.4f} to {after:.4f} in 25 steps"


@pytest.mark.points(1)
@pytest.mark.parametrize("name", NAMES)
def test_builder_saves_and_loads(name, tmp_path, rng):
    """model.save(.keras) then keras.models.load_model predicts the same, regularizers included."""
    model = build(name)
    x = example(rng)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for t in TASKS:
        np.testing.assert_allclose(loaded(x)[t.name], model(x)[t.name], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: task {t.name!r} predicts differently after save/load")
    assert len(loaded.losses) == len(model.losses), f"{name}: regularization losses lost in save/load"


@pytest.mark.parametrize("name", NAMES)
def test_builder_wrong_input_shape_names_the_input(name, rng):
    model = build(name)
    with pytest.raises(ValueError, match=r"'x'.*expected shape=\(None, 6\), found shape=\(5, 5\)"):
        model(example(rng, shape=(5,)))


def test_soft_sharing_and_relation_penalties_reach_model_losses(rng):
    model = build("soft_sharing")
    model(example(rng))
    layer = model.get_layer("soft_sharing.0")
    params = [[c.kernel, c.bias] for c in layer.columns]
    expected = float(arch().soft_sharing_penalty(params, 0.01))
    assert [float(l) for l in model.losses] == pytest.approx([expected], rel=1e-5)
    model = build("deep_relation")
    model(example(rng))
    assert len(model.losses) == 1 and float(model.losses[0]) > 0


@pytest.mark.parametrize("name", ["independent", "mmoe", "concat", "ple", "cross_stitch", "sluice"])
def test_conv_backbone_on_images(name, rng):
    model = build(name, input_shape=(8, 8, 3), backbone="conv", conv_filters=(4, 6))
    x = example(rng, batch=3, shape=(8, 8, 3))
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_sum(v ** 2) for v in model(x).values())
    convs = [v for v in model.trainable_variables if ".conv." in v.path]
    assert convs and all(g is not None for g in tape.gradient(loss, convs))


def test_conv_backbone_on_vectors_says_what_it_needs():
    with pytest.raises(ValueError, match=r"backbone='conv' needs image features of shape \[H, W, C\]"):
        build("mmoe", backbone="conv")


def test_builders_that_cannot_serve_a_configuration_say_why():
    with pytest.raises(ValueError, match="deep_relation ties the task towers"):
        build("deep_relation", tower_units=())
    with pytest.raises(ValueError, match="7 channels cannot be split into 2 equal subspaces"):
        build("sluice", hidden_units=(7,))
