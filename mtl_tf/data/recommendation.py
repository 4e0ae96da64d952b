"""A synthetic recommendation log with position bias (the YouTube case study, slides 26-30).

Generative story, one *query* at a time:

* users and videos have latent vectors (dimension ``latent_dim``); a video also has a
  ``quality`` (what satisfies viewers), a ``clickbait`` score (what attracts clicks but does
  not satisfy) and a length in minutes;
* a query is a user on a device (0 mobile, 1 desktop, 2 tv) with a context vector; the
  *logging* ranker -- the old production ranker whose choices the log records -- orders
  ``slate_size`` = K candidate videos into positions 1..K by the score
  ``estimate + clickbait + logging_bias * z(log length) + N(0, ranker_noise^2)``, where
  ``estimate`` is the true affinity (``ranker_view="truth"``, the default) or the affinity of the
  noisy factors the model also sees (``"features"``: an old model, no better informed than the
  new one). Better videos tend to be shown higher (the confound that makes position bias
  matter); with ``"truth"`` the position also carries relevance the features cannot show.
  With ``logging_bias`` > 0 the old ranker has a systematic error -- it
  over-promotes long videos (a watch-time-optimised ranker), a reason that is *not* click
  relevance but that a model can see (log length is a feature). That is the feedback loop of a
  real log: clicks concentrate on what the old ranker liked;
* true click relevance ``r = sigmoid(u.v + ctx + clickbait)`` and true satisfaction
  ``s = sigmoid(u.v + quality - clickbait)``;
* the user examines position k with probability ``e_k = k^(-eta_device)`` (decreasing in k,
  steeper on mobile) and clicks if examined and relevant: ``click ~ Bernoulli(e_k * r)``.

Tasks (mixed kinds, partial labels):

* engagement: ``click`` (binary, every impression); ``watch_time`` (regression, minutes,
  labelled only for clicked impressions);
* satisfaction: ``like`` (binary, every impression: a like needs a click and a satisfied
  viewer); ``rating`` (regression, 1..5 stars, labelled only where the viewer rated, a
  random subset of clicks).

Features: ``x`` [N, F] float32 (noisy user/video features, their product, video
quality/clickbait/length, context), ``position`` [N] int32 in 1..K and ``device`` [N] int32
in 0..2 as separate keys (bias features a debiasing tower can take; a plain model uses ``x``).
Extras (not model inputs): ``relevance`` and ``satisfaction`` (the truth, for scoring a
debiased ranker), ``examination`` (e_k) and ``query_id``. Splits are by query, so a slate is
never cut across splits.
"""

import numpy as np

from mtl_tf.data.base import MultiTaskData, Split, split_indices
from mtl_tf.options import parameter_default
from mtl_tf.tasks import Task

DEVICES = ("mobile", "desktop", "tv")
# examination exponent per device: e_k = k ** -eta; mobile users scroll least.
EXAMINATION_EXPONENT = np.array([1.2, 0.8, 0.5])
# what the logging ranker's affinity estimate is made of: the true latent factors, or the model's noisy features
RANKER_VIEWS = ("truth", "features")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def examination_probability(position, device):
    """P(a user examines the item at ``position`` (1-based) on ``device``): position ** -eta[device]."""
    return np.asarray(position, np.float64) ** -EXAMINATION_EXPONENT[np.asarray(device)]


def make_recommendation(num_examples: int = 12000, slate_size: int = 10, num_users: int = 500,
                        num_videos: int = 1000, latent_dim: int = 8, context_dim: int = 2,
                        ranker_noise: float = 1.0, rated_fraction: float = 0.4,
                        logging_bias: float = 0.0, ranker_view: str = "truth", seed: int = 0) -> MultiTaskData:
    """Generate the log: ``num_examples // slate_size`` queries of ``slate_size`` impressions each.

    The logging ranker that ordered the slates scores a candidate by its estimate of the click
    logit (``affinity + clickbait``; the affinity of the true factors for ``ranker_view="truth"``,
    of the observed noisy factors for ``"features"``) ``+ logging_bias * z + N(0, ranker_noise^2)``,
    where ``z`` is the video's standardized log length (a model feature that does not enter click
    relevance). With the defaults the log is the one this generator always made (same seed, same
    draws: every random number is drawn in a fixed order before the ranker sorts).
    ``ranker_noise``: large gives nearly random positions, 0 a sort by that score.
    ``logging_bias``: 0 is an old ranker whose only error is noise (position is then an unbiased
    proxy of relevance); > 0 an old ranker that systematically over-promotes long videos, so the
    log's clicks concentrate on them (the feedback loop a position tower is meant to undo).
    """
    if logging_bias < 0 or ranker_noise < 0:
        raise ValueError(f"logging_bias ({logging_bias}) and ranker_noise ({ranker_noise}) must be >= 0.")
    if ranker_view not in RANKER_VIEWS:
        raise ValueError(f"ranker_view must be one of {RANKER_VIEWS}, got {ranker_view!r}.")
    if slate_size > num_videos:
        raise ValueError(f"slate_size ({slate_size}) cannot exceed num_videos ({num_videos}).")
    num_queries = num_examples // slate_size
    if num_queries < 10:
        raise ValueError(f"num_examples={num_examples} gives only {num_queries} queries of {slate_size}; "
                         "need at least 10.")
    rng = np.random.default_rng(seed)
    users = rng.normal(0, 1, (num_users, latent_dim)) / latent_dim ** 0.25
    videos = rng.normal(0, 1, (num_videos, latent_dim)) / latent_dim ** 0.25
    quality = rng.normal(0, 1, num_videos)
    clickbait = rng.exponential(0.7, num_videos)
    length = rng.lognormal(np.log(6.0), 0.6, num_videos)  # minutes
    context_w = rng.normal(0, 0.5, (context_dim, latent_dim))

    q_user = rng.integers(num_users, size=num_queries)
    q_device = rng.integers(len(DEVICES), size=num_queries)
    q_context = rng.normal(0, 1, (num_queries, context_dim))
    candidates = np.stack([rng.choice(num_videos, slate_size, replace=False) for _ in range(num_queries)])

    # every random draw below in a fixed order and shape, whatever the ranker does (same seed, same draws)
    shape = (num_queries, slate_size)
    ranker_draw = rng.normal(0, ranker_noise, shape)
    click_draw, like_draw = rng.random(shape), rng.random(shape)
    watch_draw = rng.lognormal(0, 0.25, shape)
    rated_draw, rating_draw = rng.random(shape), rng.normal(0, 0.5, shape)
    seen_users = users + rng.normal(0, 0.3, users.shape)     # observed (noisy) latent factors
    seen_videos = videos + rng.normal(0, 0.3, videos.shape)
    seen_quality = quality + rng.normal(0, 0.5, num_videos)

    def affinity_of(user_vectors, video_vectors):                       # [Q, K]
        v = video_vectors[candidates]                                   # [Q, K, d]
        return ((user_vectors[q_user][:, None, :] + (q_context @ context_w)[:, None, :]) * v).sum(-1)

    affinity = affinity_of(users, videos)
    relevance = _sigmoid(affinity + clickbait[candidates] - 1.0)
    satisfaction = _sigmoid(affinity + quality[candidates] - clickbait[candidates])
    # the logging (old) ranker: its estimate of the click logit (the truth, or what the features show), plus
    # noise, plus its systematic preference for long videos; slot j -> position j + 1
    estimate = affinity if ranker_view == "truth" else affinity_of(seen_users, seen_videos)
    log_length = np.log(length)
    promoted = (log_length - log_length.mean()) / log_length.std()
    order = np.argsort(-(estimate + clickbait[candidates] + ranker_draw + logging_bias * promoted[candidates]),
                       axis=1)
    candidates, relevance, satisfaction = (np.take_along_axis(a, order, axis=1)
                                           for a in (candidates, relevance, satisfaction))
    position = np.broadcast_to(np.arange(1, slate_size + 1), shape)
    device = np.broadcast_to(q_device[:, None], shape)
    examination = examination_probability(position, device)

    click = click_draw < examination * relevance
    like = click & (like_draw < satisfaction ** 2)
    watch_fraction = np.clip(satisfaction * watch_draw, 0.02, 1.0)
    watch_time = watch_fraction * length[candidates]
    rated = click & (rated_draw < rated_fraction)
    rating = np.clip(1.0 + 4.0 * satisfaction + rating_draw, 1.0, 5.0)

    # observed features: noisy views of the latent factors, their product, video statistics
    seen_u = seen_users[q_user][:, None, :].repeat(slate_size, axis=1)
    seen_v = seen_videos[candidates]
    video_stats = np.stack([seen_quality, clickbait, log_length], axis=1)[candidates]
    context = q_context[:, None, :].repeat(slate_size, axis=1)
    x = np.concatenate([seen_u, seen_v, seen_u * seen_v, video_stats, context], axis=-1)

    def flat(a, dtype):
        return np.ascontiguousarray(a.reshape(num_queries * slate_size, *a.shape[2:]), dtype=dtype)

    n = num_queries * slate_size
    tasks = [Task("click", "binary"), Task("watch_time", "regression"),
             Task("like", "binary"), Task("rating", "regression")]
    whole = Split(
        features={"x": flat(x, np.float32), "position": flat(position, np.int32),
                  "device": flat(device, np.int32)},
        labels={"click": flat(click, np.int32), "watch_time": flat(np.where(click, watch_time, 0.0), np.float32),
                "like": flat(like, np.int32), "rating": flat(np.where(rated, rating, 0.0), np.float32)},
        masks={"click": np.ones(n, np.float32), "watch_time": flat(click, np.float32),
               "like": np.ones(n, np.float32), "rating": flat(rated, np.float32)},
        extras={"relevance": flat(relevance, np.float32), "satisfaction": flat(satisfaction, np.float32),
                "examination": flat(examination, np.float32),
                "query_id": flat(np.broadcast_to(np.arange(num_queries)[:, None], position.shape), np.int64),
                "video_id": flat(candidates, np.int32)})
    query_splits = split_indices(num_queries, seed=seed)
    tr, va, te = (whole.take((q[:, None] * slate_size + np.arange(slate_size)).reshape(-1))
                  for q in query_splits)
    return MultiTaskData("recommendation", tasks, tr, va, te,
                         description=f"synthetic recommendation log with position bias: {num_queries} queries "
                                     f"x {slate_size} positions, {num_users} users, {num_videos} videos, logging ranker "
                                     f"view {ranker_view}, noise {ranker_noise:g}, bias {logging_bias:g}")


OPTIONS = {name: parameter_default(make_recommendation, name) for name in
           ("num_examples", "slate_size", "num_users", "num_videos", "logging_bias", "ranker_view", "ranker_noise")}


def load(fv, seed: int) -> MultiTaskData:
    """The ``--dataset=recommendation`` source; ``fv`` has the attributes of ``OPTIONS``."""
    return make_recommendation(num_examples=fv.num_examples, slate_size=fv.slate_size, num_users=fv.num_users,
                               num_videos=fv.num_videos, ranker_noise=fv.ranker_noise,
                               logging_bias=fv.logging_bias, ranker_view=fv.ranker_view, seed=seed)
