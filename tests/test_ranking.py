"""The recommendation case study: graded math (position dropout, ranking score, NDCG@k, MMoE on a
shared layer) and the framework around it (shallow position tower, serving model, save/load, ranking
evaluation against the generator's truth)."""

import math

import keras
import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

from conftest import describe
from mtl_tf import impl, ranking
from mtl_tf.data.base import Split
from mtl_tf.data.recommendation import make_recommendation
from mtl_tf.layers import PositionBiasTower
from mtl_tf.models import build_model, check_model_contract, split_variables
from mtl_tf.objectives import make_objective
from mtl_tf.tasks import Task
from mtl_tf.training import TrainConfig, Trainer

TASKS = [Task("click", "binary"), Task("watch_time", "regression"), Task("like", "binary")]
D = 6


def graded():
    return impl.module("ranking")


def small_model(seed=0, tasks=TASKS):
    keras.utils.set_random_seed(seed)
    return impl.module("architectures").shared_bottom((D,), tasks, hidden_units=(8,), tower_units=(4,))


def features(rng, n=7, positions=None, devices=None):
    return {"x": rng.normal(size=(n, D)).astype(np.float32), "task": np.zeros(n, np.int32),
            "position": np.asarray(positions if positions is not None else rng.integers(1, 11, n), np.int32),
            "device": np.asarray(devices if devices is not None else rng.integers(0, 3, n), np.int32)}


def numpy_outputs(out):
    return {k: np.asarray(v) for k, v in out.items()}


# ---- graded: the math ---------------------------------------------------------------------------

@pytest.mark.points(2)
def test_drop_positions_hides_exactly_where_noise_is_below_the_rate():
    """position -> MISSING_POSITION (0) where noise < rate; kept elsewhere (noise == rate is kept)."""
    position = np.array([3, 1, 7, 2, 5], np.int32)
    noise = np.array([0.05, 0.5, 0.09, 0.1, 0.99], np.float32)
    got = np.asarray(graded().drop_positions(position, 0.1, noise))
    expected = np.array([0, 1, 0, 2, 5])
    np.testing.assert_array_equal(got, expected, err_msg=(
        f"rate 0.1, noise {noise}: expected {expected} (0 = missing where noise < rate), got {describe(got)}"))
    assert np.issubdtype(got.dtype, np.integer), f"positions must stay integers (an embedding index), got {got.dtype}"
    np.testing.assert_array_equal(graded().drop_positions(position, 0.0, noise), position,
                                  err_msg="rate 0 must keep every position")
    np.testing.assert_array_equal(graded().drop_positions(position, 1.0, noise), np.zeros(5),
                                  err_msg="rate 1 must hide every position (all 0)")


@pytest.mark.points(2)
def test_combine_scores_weighted_sum_and_weighted_product():
    """sum: sum_t w_t p_t; product: prod_t p_t ** w_t (weight 0 ignores the task, weight 2 squares it)."""
    p = np.array([[0.5, 0.2, 0.8], [0.9, 0.1, 0.4]])
    w = np.array([1.0, 0.0, 2.0])
    got = np.asarray(graded().combine_scores(p, w, "sum"))
    np.testing.assert_allclose(got, [0.5 + 2 * 0.8, 0.9 + 2 * 0.4], rtol=1e-6, err_msg=(
        f"weighted sum of {p.tolist()} with weights {w.tolist()}: expected [2.1, 1.7], got {describe(got)}"))
    got = np.asarray(graded().combine_scores(p, w, "product"))
    np.testing.assert_allclose(got, [0.5 * 0.8 ** 2, 0.9 * 0.4 ** 2], rtol=1e-5, err_msg=(
        f"weighted product of {p.tolist()} with weights {w.tolist()}: expected [0.32, 0.144], got {describe(got)}"))
    got = np.asarray(graded().combine_scores(np.array([[0.0, 0.5]]), np.array([0.0, 1.0]), "product"))
    np.testing.assert_allclose(got, [0.5], rtol=1e-5, err_msg=(
        f"a task with weight 0 must not change the product, even if its prediction is 0; got {describe(got)}"))


@pytest.mark.points(2)
def test_ndcg_at_k_matches_a_hand_computed_slate():
    """DCG@k = sum_r rel_r / log2(r + 1) over the first k ranks by score, divided by the ideal DCG@k."""
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    relevance = np.array([0.0, 1.0, 2.0, 3.0])
    got = graded().ndcg_at_k(scores, relevance, 2)
    expected = (0.0 + 1.0 / math.log2(3)) / (3.0 + 2.0 / math.log2(3))
    assert got == pytest.approx(expected, rel=1e-6), (
        f"scores {scores}, relevance {relevance}, k=2: ranked gains [0, 1] vs ideal [3, 2] give "
        f"{expected:.5f}, got {got}")
    got = graded().ndcg_at_k(relevance, relevance, 3)
    assert got == pytest.approx(1.0), f"ranking by the relevance itself must give NDCG 1, got {got}"
    got = graded().ndcg_at_k(np.array([0.1, 0.5, 0.3]), np.array([1.0, 0.0, 2.0]), 10)
    expected = (0.0 + 2.0 / math.log2(3) + 1.0 / 2.0) / (2.0 + 1.0 / math.log2(3))
    assert got == pytest.approx(expected, rel=1e-6), f"k=10 > 3 items: expected {expected:.5f}, got {got}"
    got = graded().ndcg_at_k(np.array([1.0, 1.0]), np.array([0.0, 1.0]), 1)
    assert got == pytest.approx(0.0), f"tied scores keep the input order (stable sort): expected 0, got {got}"


@pytest.mark.points(2)
def test_mmoe_on_shared_puts_experts_and_gates_on_the_shared_layer():
    """x -> shared.0 (H) -> E experts and T gates read the shared layer; towers are task-owned."""
    keras.utils.set_random_seed(0)
    h, e, u = 8, 3, 4
    model = graded().mmoe_on_shared((D,), TASKS, hidden_units=(h,), num_experts=e, expert_units=(u,),
                                    tower_units=(2,), gate_dropout=0.1)
    check_model_contract(model, TASKS, (D,))
    shapes = {v.path: tuple(v.shape) for v in model.weights}
    assert shapes.get("shared.0/kernel") == (D, h), f"expected a shared layer 'shared.0' [{D}, {h}]; got {shapes}"
    for i in range(e):
        assert shapes.get(f"expert.{i}.0/kernel") == (h, u), (
            f"expert {i} must read the shared layer: expected 'expert.{i}.0/kernel' of shape ({h}, {u}), got {shapes}")
    for t in TASKS:
        assert shapes.get(f"{t.name}.gate/kernel") == (h, e), (
            f"task {t.name}'s gate must read the shared layer: expected '{t.name}.gate/kernel' ({h}, {e}), "
            f"got {shapes}")
    shared, own = split_variables(model, TASKS)
    assert len(shared) == 2 + 2 * e, f"expected shared.0 and {e} experts shared, got {[v.path for v in shared]}"
    assert all(len(v) == 6 for v in own.values()), {k: [v.path for v in vs] for k, vs in own.items()}


# ---- the shallow tower ----------------------------------------------------------------------------

def identity_tower(dropout, num_positions=10):
    """A tower whose output is exactly the (possibly dropped) position."""
    tower = PositionBiasTower(num_positions, 3, units=2, dropout=dropout, seed=1)
    tower.build([(None,), (None,)])
    tower.position_table.assign(np.repeat(np.arange(num_positions + 1, dtype=np.float32)[:, None], 2, axis=1))
    tower.device_table.assign(np.zeros((3, 2), np.float32))
    tower.kernel.assign(np.full((2, 1), 0.5, np.float32))
    return tower


def test_position_dropout_happens_in_training_only():
    tower = identity_tower(dropout=0.3)
    position, device = np.full(4000, 7, np.int32), np.zeros(4000, np.int32)
    trained = np.asarray(tower([position, device], training=True)).ravel()
    assert set(np.unique(trained)) <= {0.0, 7.0}, f"training output must be the position or 0, got {np.unique(trained)}"
    dropped = float(np.mean(trained == 0.0))
    assert 0.26 < dropped < 0.34, f"with dropout 0.3 about 30% of positions should be hidden, got {dropped:.3f}"
    served = np.asarray(tower([position, device], training=False)).ravel()
    np.testing.assert_array_equal(served, 7.0, err_msg="no position may be dropped outside training")


def test_tower_clips_positions_beyond_its_buckets():
    tower = identity_tower(dropout=0.0, num_positions=5)
    got = np.asarray(tower([np.array([1, 5, 9], np.int32), np.zeros(3, np.int32)])).ravel()
    np.testing.assert_array_equal(got, [1.0, 5.0, 5.0])


def test_wrapped_model_adds_the_bias_to_click_only_and_serving_ignores_position(rng):
    base = small_model()
    model = ranking.with_position_tower(base, TASKS, "click", num_positions=10, num_devices=3, units=4, dropout=0.1)
    assert sorted(model.input) == ["device", "position", "task", "x"]
    f = features(rng)
    out = numpy_outputs(model(f, training=False))
    plain = numpy_outputs(base({"x": f["x"], "task": f["task"]}, training=False))
    bias = np.asarray(ranking.position_tower(model)([f["position"], f["device"]], training=False))
    np.testing.assert_allclose(out["click"], plain["click"] + bias, rtol=1e-5, atol=1e-6)
    for name in ("watch_time", "like"):
        np.testing.assert_allclose(out[name], plain[name], rtol=1e-6, err_msg=f"{name} must not get the bias")
    moved = numpy_outputs(model({**f, "position": np.ones_like(f["position"])}, training=False))
    assert not np.allclose(moved["click"], out["click"]), "the log model's click must depend on position"

    serve = ranking.serving_model(model)
    assert sorted(serve.input) == ["device", "task", "x"], f"serving must not take a position: {sorted(serve.input)}"
    served = numpy_outputs(serve({k: f[k] for k in ("x", "task", "device")}, training=False))
    missing = numpy_outputs(model({**f, "position": np.zeros_like(f["position"])}, training=False))
    for name in served:
        np.testing.assert_allclose(served[name], missing[name], rtol=1e-5, atol=1e-6,
                                   err_msg=f"serving {name} must equal the log model with position missing (0)")
    assert ranking.serving_model(base) is base and ranking.serving_model(serve) is serve


def test_tower_variables_belong_to_the_click_task():
    model = ranking.with_position_tower(small_model(), TASKS, "click")
    shared, own = split_variables(model, TASKS)
    tower_paths = [v.path for v in ranking.position_tower(model).trainable_variables]
    assert len(tower_paths) == 5 and all(p in [v.path for v in own["click"]] for p in tower_paths), tower_paths
    assert not any("position_tower" in v.path for v in shared + own["like"] + own["watch_time"])


def test_wrapped_model_saves_and_loads_and_serves_after_loading(tmp_path, rng):
    model = ranking.with_position_tower(small_model(), TASKS, "click", dropout=0.2)
    f = features(rng)
    before = numpy_outputs(model(f, training=False))
    path = str(tmp_path / "ranker.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    after = numpy_outputs(loaded(f, training=False))
    for name in before:
        np.testing.assert_allclose(after[name], before[name], rtol=1e-6, err_msg=f"{name} changed after load")
    tower = ranking.position_tower(loaded)
    assert tower is not None and tower.dropout == 0.2
    served = numpy_outputs(ranking.serving_model(loaded)({k: f[k] for k in ("x", "task", "device")}))
    expected = numpy_outputs(ranking.serving_model(model)({k: f[k] for k in ("x", "task", "device")}))
    np.testing.assert_allclose(served["click"], expected["click"], rtol=1e-6)


def test_exported_serving_model_takes_no_position(tmp_path, rng):
    """The SavedModel of ``serving_model`` has a signature of x and device only, and serves P(click)."""
    import tensorflow as tf
    from mtl_tf.export import export
    model = ranking.with_position_tower(small_model(), TASKS, "click")
    serve = ranking.serving_model(model)
    paths = export(serve, TASKS, str(tmp_path / "run"))
    signature = tf.saved_model.load(paths["saved_model"]).signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == ["device", "x"]
    f = features(rng)
    got = signature(x=tf.constant(f["x"]), device=tf.constant(f["device"]))["click"].numpy()
    expected = 1 / (1 + np.exp(-np.asarray(serve({k: f[k] for k in ("x", "task", "device")})["click"]).ravel()))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_wrapper_refuses_a_task_that_is_not_binary_or_absent():
    with pytest.raises(ValueError, match="watch_time.*regression"):
        ranking.with_position_tower(small_model(), TASKS, "watch_time")
    with pytest.raises(ValueError, match="'share' is not a task"):
        ranking.with_position_tower(small_model(), TASKS, "share")


def test_build_model_applies_the_tower_from_flags():
    with flagsaver.flagsaver(position_tower=True, position_dropout=0.25, hidden_units=["8"], tower_units=["4"],
                             num_experts=2, expert_units=["4"], gate_dropout=0.1):
        model = ranking.build_model("mmoe_shared", (D,), TASKS, flags.FLAGS)
    tower = ranking.position_tower(model)
    assert tower is not None and tower.dropout == 0.25 and tower.name == "click.position_tower"
    with flagsaver.flagsaver(position_tower=False, hidden_units=["8"], tower_units=["4"]):
        assert ranking.position_tower(ranking.build_model("shared_bottom", (D,), TASKS, flags.FLAGS)) is None
    assert ranking.position_tower(build_model("shared_bottom", (D,), TASKS)) is None  # the contract model alone


def test_the_tower_absorbs_the_position_bias_of_the_log():
    """Trained on the biased log, the tower's bias falls with position (examination e_k = k^-eta)."""
    data = make_recommendation(num_examples=3000, num_users=100, num_videos=200, seed=0)
    keras.utils.set_random_seed(0)
    base = impl.module("architectures").shared_bottom(data.input_shape, data.tasks, (32,), (8,))
    model = ranking.with_position_tower(base, data.tasks, "click", num_positions=10, num_devices=3)
    Trainer(model, data, make_objective("sum", data.tasks),
            TrainConfig(steps=250, batch_size=64, eval_every=0, progress=False)).fit()
    tower = ranking.position_tower(model)
    for device in range(3):
        bias = np.asarray(tower([np.arange(1, 11), np.full(10, device)], training=False)).ravel()
        assert bias[:3].mean() > bias[-3:].mean() + 0.3, (
            f"device {device}: the learned bias should fall with position; positions 1..10 got {np.round(bias, 2)}")
    results = ranking.evaluate_ranking(model, data.tasks, data.test, [1, 0, 1, 0], "sum", 5)
    assert results["queries"] == len(np.unique(data.test.extras["query_id"]))
    for truth in ("relevance", "satisfaction"):
        for metric, value in results["score"][truth].items():
            assert 0.0 <= value <= 1.0, f"{metric} vs {truth} = {value}"
    assert "ndcg@5/relevance" in ranking.format_ranking(results)


# ---- the score and the evaluation ----------------------------------------------------------------

def test_score_weights_count_is_checked():
    np.testing.assert_array_equal(ranking.score_weights([], TASKS), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(ranking.score_weights(["1", "0", "0.5"], TASKS), [1.0, 0.0, 0.5])
    with pytest.raises(ValueError, match="2 value.*3 tasks"):
        ranking.score_weights(["1", "2"], TASKS)


def test_score_inputs_maps_binary_and_regression_into_unit_interval():
    got = ranking.score_inputs(TASKS, {"click": np.array([[0.0], [100.0]]), "watch_time": np.array([[0.0], [-2.0]]),
                                       "like": np.array([[-100.0], [0.0]])})
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.0], [1.0, 1 / (1 + math.exp(2.0)), 0.5]], atol=1e-12)
    with pytest.raises(ValueError, match="multiclass"):
        ranking.score_inputs([Task("c", "multiclass", num_classes=3)], {"c": np.zeros((2, 3))})


def test_slate_auc_and_grouping_by_query():
    assert ranking.slate_auc([3.0, 2.0, 1.0], [0.9, 0.5, 0.1]) == 1.0
    assert ranking.slate_auc([1.0, 2.0, 3.0], [0.9, 0.5, 0.1]) == 0.0
    assert ranking.slate_auc([1.0, 1.0, 0.0], [0.9, 0.5, 0.1]) == pytest.approx((0.5 + 1 + 1) / 3)
    assert math.isnan(ranking.slate_auc([1.0, 2.0], [0.3, 0.3]))
    groups = ranking.slates(np.array([5, 2, 5, 2, 9]))
    assert [g.tolist() for g in groups] == [[1, 3], [0, 2], [4]]


def test_evaluate_ranking_scores_a_perfect_and_a_reversed_ranker():
    """A model whose click logit is the true relevance ranks perfectly; its negation worst."""
    rel = np.array([0.1, 0.9, 0.5, 0.3, 0.8, 0.2], np.float32)
    n = len(rel)
    split = Split(features={"x": np.stack([rel, np.zeros(n, np.float32)], 1)},
                  labels={"click": np.zeros(n, np.int32)}, masks={"click": np.ones(n, np.float32)},
                  extras={"relevance": rel, "query_id": np.array([0, 0, 0, 1, 1, 1])})
    inputs = {"x": keras.Input((2,), name="x"), "task": keras.Input((), dtype="int32", name="task")}
    for sign, ndcg_expected in ((1.0, 1.0), (-1.0, None)):
        out = keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(sign))(inputs["x"])
        model = keras.Model(inputs, {"click": out})
        results = ranking.evaluate_ranking(model, [Task("click", "binary")], split, k=3)
        got = results["score"]["relevance"]
        if ndcg_expected is not None:
            assert got == {"ndcg": pytest.approx(1.0), "auc": 1.0}, got
        else:
            assert got["auc"] == 0.0 and got["ndcg"] < 0.8, got
        assert "satisfaction" not in results["score"] and "logged" not in results
    with pytest.raises(ValueError, match="query_id"):
        ranking.evaluate_ranking(model, [Task("click", "binary")], Split(split.features, split.labels, split.masks,
                                                                           extras={}))


@pytest.mark.parametrize("name", ["ranking_shared_bottom", "ranking_shared_bottom_tower", "ranking_mmoe",
                                  "ranking_mmoe_tower", "ranking_control_shared_bottom",
                                  "ranking_control_shared_bottom_tower"])
def test_ranking_flag_files_parse_and_build(name):
    """Each experiment flag file parses, its score weights fit the log's 4 tasks, and its model builds."""
    import os

    from absl import flags
    from conftest import REPO
    fv = flags.FLAGS
    with flagsaver.flagsaver():
        fv(["mtl-train", f"--flagfile={os.path.join(REPO, 'flags', name + '.flags')}"])
        assert fv.dataset == "recommendation" and fv.position_tower == name.endswith("_tower")
        # the claim's log: an old ranker as informed as the model, biased towards long videos (control: unbiased)
        assert fv.ranker_view == "features" and (fv.logging_bias == 0) == ("control" in name), fv.logging_bias
        data = make_recommendation(num_examples=200, num_users=20, num_videos=50, seed=fv.seed)
        assert len(ranking.score_weights(fv.score_weights, data.tasks)) == len(data.tasks)
        model = ranking.build_model(fv.model, data.input_shape, data.tasks, fv)
        assert (ranking.position_tower(model) is not None) == fv.position_tower


# ---- the logging model of the generator (--logging_bias, --ranker_view) -----------------------------

LOG_LENGTH = -3  # column of x holding the video's log length (video stats: quality, clickbait, log length)


def _per_slate(split, key, group="extras"):
    order = np.lexsort((split.features["position"], split.extras["query_id"]))
    return getattr(split, group)[key][order].reshape(-1, 10)


def test_logging_bias_reorders_slates_towards_long_videos_only():
    """The knob changes where the old ranker put each candidate, not which candidates or how relevant."""
    plain, biased = (make_recommendation(num_examples=3000, num_users=100, num_videos=300, logging_bias=b, seed=0)
                     for b in (0.0, 2.0))
    for key in ("video_id", "relevance"):
        np.testing.assert_array_equal(np.sort(_per_slate(plain.train, key), 1), np.sort(_per_slate(biased.train, key), 1),
                                      err_msg=f"logging_bias must only reorder each slate ({key} per slate differs)")
    corr = {name: np.corrcoef(d.train.features["position"], d.train.features["x"][:, LOG_LENGTH])[0, 1]
            for name, d in (("plain", plain), ("biased", biased))}
    assert abs(corr["plain"]) < 0.1 and corr["biased"] < -0.4, (
        f"corr(position, log length): unbiased ranker {corr['plain']:.3f} (expected ~0), "
        f"logging_bias=2 {corr['biased']:.3f} (expected long videos shown higher, < -0.4)")
    assert not np.array_equal(plain.train.labels["click"], biased.train.labels["click"])


def test_ranker_view_truth_sorts_by_relevance_and_features_does_not():
    """With no noise and no bias the 'truth' ranker shows every slate by decreasing true relevance; the
    'features' ranker only sees the noisy features, so it makes mistakes."""
    kwargs = dict(num_examples=1000, num_users=50, num_videos=200, ranker_noise=0.0, seed=3)
    truth = _per_slate(make_recommendation(**kwargs).train, "relevance")
    assert np.all(np.diff(truth, axis=1) <= 0), "truth view, no noise: relevance must fall with position"
    seen = _per_slate(make_recommendation(ranker_view="features", **kwargs).train, "relevance")
    swapped = float(np.mean(np.diff(seen, axis=1) > 0))
    assert 0.05 < swapped < 0.5, f"features view: expected some (not most) adjacent pairs out of order, got {swapped:.3f}"
    with pytest.raises(ValueError, match="ranker_view"):
        make_recommendation(ranker_view="oracle", **kwargs)
    with pytest.raises(ValueError, match="logging_bias"):
        make_recommendation(logging_bias=-1.0, **{**kwargs, "ranker_noise": 1.0})


def test_recommendation_source_reads_the_logging_flags():
    from absl import flags

    from mtl_tf.data.recommendation import load
    with flagsaver.flagsaver(num_examples=1000, num_users=50, num_videos=200, logging_bias=1.5,
                             ranker_view="features", ranker_noise=0.5):
        got = load(flags.FLAGS, 4)
    expected = make_recommendation(num_examples=1000, num_users=50, num_videos=200, logging_bias=1.5,
                                   ranker_view="features", ranker_noise=0.5, seed=4)
    np.testing.assert_array_equal(got.train.extras["video_id"], expected.train.extras["video_id"])
    assert "bias 1.5" in got.description
