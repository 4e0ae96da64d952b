"""The offline sources: recommendation log, procedural images, task families (framework tests)."""

import numpy as np
import pytest

from mtl_tf.data import DataError, load_dataset, validate
from mtl_tf.data import images as im
from mtl_tf.data.families import make_families
from mtl_tf.data.recommendation import DEVICES, examination_probability, make_recommendation


# ---- recommendation log ----------------------------------------------------------------
@pytest.fixture(scope="module")
def log():
    return make_recommendation(num_examples=20000, slate_size=10, seed=0)


def _whole(data, key, group="labels"):
    return np.concatenate([getattr(s, group)[key] for s in data.splits().values()])


def test_recommendation_has_mixed_kinds_and_partial_labels(log):
    validate(log)
    assert {t.name: t.kind for t in log.tasks} == {"click": "binary", "watch_time": "regression",
                                                   "like": "binary", "rating": "regression"}
    assert set(log.train.features) == {"x", "position", "device"}
    assert {"relevance", "query_id"} <= set(log.train.extras)
    assert log.train.features["position"].dtype == np.int32 and log.train.features["x"].ndim == 2
    click = _whole(log, "click") > 0
    np.testing.assert_array_equal(_whole(log, "watch_time", "masks") > 0, click)  # watch time only for clicks
    rated = _whole(log, "rating", "masks") > 0
    assert not np.any(rated & ~click), "a rating without a click"
    assert 0.05 < rated.mean() < click.mean(), f"rated fraction {rated.mean():.3f}, click rate {click.mean():.3f}"
    assert np.all(_whole(log, "like")[~click] == 0), "a like without a click"
    ratings = _whole(log, "rating")[rated]
    assert ratings.min() >= 1 and ratings.max() <= 5
    assert np.all(_whole(log, "watch_time")[click] > 0)


def test_click_through_rate_falls_with_position(log):
    pos, click = _whole(log, "position", "features"), _whole(log, "click")
    rel = _whole(log, "relevance", "extras")
    ctr = np.array([click[pos == k].mean() for k in range(1, 11)])
    assert np.all(np.diff(ctr[:5]) < 0) and ctr[0] > 3 * ctr[-1], f"CTR by position: {np.round(ctr, 3)}"
    # not only the ranker's ordering: clicks follow P(click) = examination(position) * relevance
    p = _whole(log, "examination", "extras") * rel
    z = np.array([(click[pos == k].sum() - p[pos == k].sum()) / np.sqrt((p * (1 - p))[pos == k].sum())
                  for k in range(1, 11)])
    assert np.all(np.abs(z) < 4), f"clicks per position differ from examination x relevance: z = {np.round(z, 1)}"
    ratio = np.array([click[pos == k].mean() / rel[pos == k].mean() for k in range(1, 11)])
    assert ratio[0] > 2 * ratio[-1], f"click rate / relevance by position: {np.round(ratio, 3)}"


def test_examination_decreases_with_position_on_every_device():
    k = np.arange(1, 11)
    for d in range(len(DEVICES)):
        e = examination_probability(k, np.full(10, d))
        assert e[0] == 1.0 and np.all(np.diff(e) < 0), (DEVICES[d], e)


def test_recommendation_splits_keep_slates_whole_and_disjoint(log):
    queries = {name: set(s.extras["query_id"].tolist()) for name, s in log.splits().items()}
    assert not (queries["train"] & queries["test"] or queries["train"] & queries["validation"]
                or queries["validation"] & queries["test"])
    for s in log.splits().values():
        counts = np.bincount(s.extras["query_id"])
        assert set(counts[counts > 0].tolist()) == {10}, "a slate was cut across splits"


def test_recommendation_is_deterministic_by_seed():
    a, b, c = (make_recommendation(num_examples=500, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.train.features["x"], b.train.features["x"])
    np.testing.assert_array_equal(a.test.labels["click"], b.test.labels["click"])
    assert not np.array_equal(a.train.features["x"], c.train.features["x"])


# ---- procedural images -----------------------------------------------------------------
def decode(image):
    """Read every attribute off the pixels (median = background; bright pixels = the shape)."""
    bg_palette, fg_palette = np.array(list(im.BACKGROUNDS.values())), np.array(list(im.COLOURS.values()))
    s = image.shape[0]
    background = int(np.argmin(((bg_palette - np.median(image.reshape(-1, 3), axis=0)) ** 2).sum(1)))
    fg = np.sqrt(((image - bg_palette[background]) ** 2).sum(-1)) > 0.35
    colour = int(np.argmin(((fg_palette - image[fg].mean(0)) ** 2).sum(1)))
    ys, xs = np.nonzero(fg)
    position = int(ys.mean() + 0.5 > s / 2) * 2 + int(xs.mean() + 0.5 > s / 2)
    box = fg[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    if box[-1].sum() - box[0].sum() >= 2:  # wider at the bottom than at the top
        shape = im.SHAPES.index("triangle")
    else:
        shape = im.SHAPES.index("square" if box[0, 0] and box[0, -1] and box[-1, 0] and box[-1, -1] else "circle")
    size = int(max(box.shape) > 0.72 * s / 2)
    return {"shape": shape, "colour": colour, "size": size, "position": position, "background": background}


@pytest.mark.parametrize("image_size", [16, 24])
def test_image_attributes_are_recoverable_from_pixels(image_size):
    data = im.make_images(num_examples=600, image_size=image_size, seed=3)
    validate(data)
    x = data.train.features["x"]
    assert x.shape[1:] == (image_size, image_size, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    wrong = {a: 0 for a in im.ATTRIBUTES}
    for i in range(data.train.size):
        got = decode(x[i])
        for a in im.ATTRIBUTES:
            wrong[a] += got[a] != data.train.labels[a][i]
    assert all(v == 0 for v in wrong.values()), f"attributes not readable from pixels: {wrong} errors"


def test_images_are_multilabel_with_every_attribute_varying():
    data = im.make_images(num_examples=400, seed=0)
    assert [t.name for t in data.tasks] == list(im.ATTRIBUTES)
    for t in data.tasks:
        assert t.kind == "multiclass" and t.num_classes == len(im.ATTRIBUTES[t.name])
        assert np.all(data.train.masks[t.name] == 1)
        assert len(np.unique(data.train.labels[t.name])) == t.num_classes
    a, b = im.make_images(num_examples=50, seed=5), im.make_images(num_examples=50, seed=5)
    np.testing.assert_array_equal(a.train.features["x"], b.train.features["x"])


# ---- task families ---------------------------------------------------------------------
def _agreement(relatedness, i=0, j=1):
    """Fraction of shared probe inputs on which the noise-free rules of tasks i and j agree."""
    _, (rules, _) = make_families(num_examples=400, num_tasks=4, relatedness=relatedness, seed=2,
                                  return_rules=True)
    probe = np.random.default_rng(0).standard_normal((4000, rules.shape[1]))
    return np.mean((probe @ rules[i] > 0) == (probe @ rules[j] > 0)), rules


def test_relatedness_one_gives_identical_rules_and_minus_one_flipped_ones():
    same, rules = _agreement(1.0)
    assert same == 1.0 and np.allclose(rules, rules[0])
    flipped, rules = _agreement(-1.0)
    assert flipped == 0.0 and np.allclose(rules[1], -rules[0]) and np.allclose(rules[2], rules[0])
    unrelated, _ = _agreement(0.0)
    assert 0.2 < unrelated < 0.8, f"unrelated rules agree on {unrelated:.2f} of inputs"
    half, _ = _agreement(0.5)
    assert unrelated < half < same


def test_families_are_multitask_classification_with_own_inputs():
    data, (rules, means) = make_families(num_examples=4000, num_tasks=3, relatedness=1.0, label_noise=0.0,
                                         seed=1, return_rules=True)
    validate(data)
    masks = np.stack([data.train.masks[t.name] for t in data.tasks], axis=1)
    np.testing.assert_array_equal(masks.sum(1), np.ones(data.train.size))  # one task per example
    for i, t in enumerate(data.tasks):
        own = masks[:, i] > 0
        x = data.train.features["x"][own]
        np.testing.assert_allclose(x.mean(0), means[i], atol=0.15)  # its own p_i(x)
        np.testing.assert_array_equal(data.train.labels[t.name][own], (x @ rules[i] > 0).astype(np.int32))


def test_family_sizes_follow_the_imbalance():
    data = make_families(num_examples=6000, num_tasks=3, imbalance=9.0, seed=0)
    n = [data.train.masks[t.name].sum() for t in data.tasks]
    assert n[0] / n[2] == pytest.approx(9.0, rel=0.05) and n[0] > n[1] > n[2]


# ---- registry and flags ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["recommendation", "images", "families", "correlated_regression"])
def test_offline_sources_load_from_flags(name):
    from absl import flags
    from absl.testing import flagsaver
    with flagsaver.flagsaver(num_examples=600):
        data = load_dataset(name, flags.FLAGS, seed=0)
    assert data.train.size > data.validation.size > 0 and data.test.size > 0


def test_bad_recommendation_sizes_are_clear():
    with pytest.raises(ValueError, match="slate_size"):
        make_recommendation(num_examples=1000, slate_size=20, num_videos=10)
    with pytest.raises(ValueError, match="queries"):
        make_recommendation(num_examples=50, slate_size=10)


def test_validation_names_a_bad_extra_feature():
    data = make_families(num_examples=300, seed=0)
    data.test.features["x"] = data.test.features["x"].copy()
    data.test.features["x"][0, 0] = np.nan
    with pytest.raises(DataError, match="test split: feature 'x' has 1 non-finite"):
        validate(data)


@pytest.mark.parametrize("make", [lambda s: im.make_images(num_examples=300, seed=s),
                                  lambda s: make_families(num_examples=600, seed=s),
                                  lambda s: make_recommendation(num_examples=600, seed=s)],
                         ids=["images", "families", "recommendation"])
def test_sources_are_deterministic_and_splits_disjoint(make):
    a, b, c = make(4), make(4), make(5)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(a.splits()[name].features["x"], b.splits()[name].features["x"])
    assert not np.array_equal(a.train.features["x"], c.train.features["x"])
    rows = {n: {r.tobytes() for r in s.features["x"]} for n, s in a.splits().items()}
    assert not (rows["train"] & rows["test"] or rows["train"] & rows["validation"]
                or rows["validation"] & rows["test"])
