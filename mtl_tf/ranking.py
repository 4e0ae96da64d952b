"""The recommendation case study around the graded ``ranking`` module: the shallow position tower,
the serving model, the ranking score and the ranking evaluation against the generator's truth.

Shallow tower (``--position_tower``): ``with_position_tower`` wraps any contract model. The
wrapped model has two more inputs, ``position`` [B] int32 (1-based) and ``device`` [B] int32, and
adds the bias logit of a ``mtl_tf.layers.PositionBiasTower`` (named ``"<bias task>.position_tower"``,
so its variables belong to that task) to the ``--position_bias_task`` logit (click). During
training a fraction ``--position_dropout`` of positions is hidden (``ranking.drop_positions``).
The wrapped model is the *log model*: it predicts the logged clicks, position bias included, and
the Trainer's per-task metrics are computed with it (fed the logged position).

Serving (position unknown): ``serving_model(model)`` is the same weights with inputs
``{"x", "task", "device"}`` -- no position -- and the tower fed ``MISSING_POSITION`` (0), the row
position dropout trained. Export that model (``mtl_tf.export.export(serving_model(model), ...)``)
so the SavedModel signature takes ``x`` and ``device`` only.

Ranking score (``--score_weights``, ``--score_combine``): every task's prediction is mapped into
(0, 1) (``score_inputs``: P(y=1) for binary tasks, the sigmoid of the standardized prediction for
regression tasks) and combined by the graded ``ranking.combine_scores``.

Evaluation (``evaluate_ranking``): per query (slate, ``extras["query_id"]``) the items are ranked
by the served score of the serving model; against each truth the generator kept
(``extras["relevance"]``: true click relevance; ``extras["satisfaction"]``) it reports the mean over
queries of NDCG@``--ndcg_k`` (graded ``ranking.ndcg_at_k``, linear gain) and of the slate AUC: the
fraction of item pairs with different true values that the score orders correctly (ties 1/2). The
same for each task's prediction alone and for the logged ranker (the order the log was shown in).
"""

import math
from typing import Dict, Optional, Sequence

import keras
import numpy as np

from mtl_tf import impl
from mtl_tf.layers import MissingPositions, PositionBiasTower
from mtl_tf.options import parameter_default, resolve


TRUTHS = ("relevance", "satisfaction")


def _graded():
    return impl.module("ranking")


# ---- the model ----------------------------------------------------------------------------------

def with_position_tower(model: keras.Model, tasks, bias_task: str = "click", num_positions: int = 20,
                        num_devices: int = 4, units: int = 8, dropout: float = 0.1, seed=None) -> keras.Model:
    """``model`` plus a shallow tower: inputs ``model``'s and ``position``, ``device`` ([B] int32);
    outputs ``model``'s, with the tower's bias logit added to ``bias_task``'s output."""
    from mtl_tf.models import task_layer_name
    kinds = {t.name: t.kind for t in tasks}
    if kinds.get(bias_task) != "binary":
        raise ValueError(f"The position tower adds a bias logit to a binary task's output; --position_bias_task="
                         f"{bias_task!r} is {'a ' + kinds[bias_task] if bias_task in kinds else 'not a'} task "
                         f"(tasks: {', '.join(f'{n}/{k}' for n, k in kinds.items())}).")
    taken = [k for k in ("position", "device") if k in model.input]
    if taken:
        raise ValueError(f"The model already has input(s) {taken}; wrap a contract model (inputs x, task) once.")
    # one flat graph on the model's own tensors (no nested model): the layers and their variable paths stay
    # as they are, and graph walks such as mgda_ub's shared representation still see every layer
    inputs = dict(model.input)
    inputs["position"] = keras.Input(shape=(), dtype="int32", name="position")
    inputs["device"] = keras.Input(shape=(), dtype="int32", name="device")
    tower = PositionBiasTower(num_positions, num_devices, units, dropout, seed=seed,
                              name=task_layer_name(bias_task, "position_tower"))
    bias = tower([inputs["position"], inputs["device"]])
    outputs = dict(model.output)
    outputs[bias_task] = keras.layers.Add(name=task_layer_name(bias_task, "position_bias"))([outputs[bias_task], bias])
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{model.name}_position_tower")


# The options of the tower (``build_model``) and of the ranking evaluation (``evaluate_ranking_from_flags``),
# with their defaults: the keyword defaults of ``with_position_tower`` and ``evaluate_ranking``.
TOWER_OPTIONS = {"position_tower": False,
                 "position_bias_task": parameter_default(with_position_tower, "bias_task"),
                 "position_buckets": parameter_default(with_position_tower, "num_positions"),
                 "device_buckets": parameter_default(with_position_tower, "num_devices"),
                 "position_tower_units": parameter_default(with_position_tower, "units"),
                 "position_dropout": parameter_default(with_position_tower, "dropout"),
                 "seed": None}
SCORE_COMBINES = ("sum", "product")


def with_position_tower_from_flags(model: keras.Model, tasks, values=None, **options) -> keras.Model:
    """``with_position_tower`` configured by ``TOWER_OPTIONS`` (keywords, else ``values``'s attributes:
    the ``--position_*`` flags; seeded by ``seed``)."""
    o = resolve(TOWER_OPTIONS, values, options, "position-tower option")
    return with_position_tower(model, tasks, o.position_bias_task, o.position_buckets, o.device_buckets,
                               o.position_tower_units, o.position_dropout, seed=o.seed)


def build_model(name: str, input_shape, tasks, values=None, **options) -> keras.Model:
    """``mtl_tf.models.build_model``, wrapped by ``with_position_tower`` when ``position_tower`` is true
    (extra inputs ``position`` and ``device``; serve ``serving_model`` of it). ``options``: those of
    ``mtl_tf.models.OPTIONS`` and ``TOWER_OPTIONS``; the rest from ``values``'s attributes."""
    from mtl_tf.models import OPTIONS, build_model as build_contract_model
    model = build_contract_model(name, input_shape, tasks, values,
                                 **{k: v for k, v in options.items() if k in OPTIONS})
    tower = {k: v for k, v in options.items() if k not in OPTIONS}
    if resolve(TOWER_OPTIONS, values, tower, "position-tower option").position_tower:
        model = with_position_tower_from_flags(model, tasks, values, **tower)
    return model


def position_tower(model: keras.Model) -> Optional[PositionBiasTower]:
    """The model's ``PositionBiasTower``, or None if it has none."""
    return next((layer for layer in model.layers if isinstance(layer, PositionBiasTower)), None)


def serving_model(model: keras.Model) -> keras.Model:
    """The model to serve: no ``position`` input; the tower sees the missing position.

    A model without a position tower (or already a serving model) is returned as is. Otherwise
    the result is the same graph and weights with inputs ``{"x", "task", "device"}``: the
    bias task's output is its unbiased logit plus the tower's bias for the missing position.
    """
    tower = position_tower(model)
    if tower is None or "position" not in model.input:  # no tower, or already a serving model
        return model
    from mtl_tf.models import task_layer_name
    bias_task = tower.name.split(".", 1)[0]
    inputs = {k: v for k, v in model.input.items() if k != "position"}
    outputs = dict(model.output)
    unbiased = model.get_layer(task_layer_name(bias_task, "position_bias")).input[0]
    bias = tower([MissingPositions(name="missing_position")(inputs["device"]), inputs["device"]])
    outputs[bias_task] = keras.layers.Add(name="serving_position_bias")([unbiased, bias])
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{model.name}_serving")


# ---- the score ----------------------------------------------------------------------------------

def score_weights(values: Sequence, tasks) -> np.ndarray:
    """``--score_weights`` as a [T] array (empty: all ones); the count must match the tasks."""
    if not values:
        return np.ones(len(tasks))
    if len(values) != len(tasks):
        raise ValueError(f"--score_weights has {len(values)} value(s) ({','.join(map(str, values))}) but the data "
                         f"has {len(tasks)} tasks ({', '.join(t.name for t in tasks)}): give one weight per task.")
    return np.asarray([float(v) for v in values])


def score_inputs(tasks, outputs: Dict[str, np.ndarray]) -> np.ndarray:
    """[N, T] predictions in (0, 1) from raw outputs: sigmoid of a binary logit (P(y=1)) or of a
    (standardized) regression prediction. Multiclass tasks cannot enter a ranking score."""
    columns = []
    for t in tasks:
        if t.kind == "multiclass":
            raise ValueError(f"Task {t.name!r} is multiclass; a ranking score combines binary and regression tasks.")
        columns.append(1.0 / (1.0 + np.exp(-np.asarray(outputs[t.name], np.float64).reshape(-1))))
    return np.stack(columns, axis=1)


# ---- the evaluation -----------------------------------------------------------------------------

def slate_auc(scores, truth) -> float:
    """Fraction of the slate's item pairs with different truth that ``scores`` orders like the truth
    (score ties count 1/2); NaN if every item has the same truth."""
    scores, truth = np.asarray(scores, np.float64), np.asarray(truth, np.float64)
    better = truth[:, None] > truth[None, :]
    if not better.any():
        return math.nan
    diff = scores[:, None] - scores[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0))[better].mean())


def slates(query_id) -> list:
    """Index arrays of the items of each query (in the order they appear)."""
    query_id = np.asarray(query_id)
    order = np.argsort(query_id, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(query_id[order])) + 1)


def mean_over_slates(metric, scores, truth, groups) -> float:
    """Mean of ``metric(scores[g], truth[g])`` over the slates ``groups``, NaN values skipped."""
    values = [metric(scores[g], truth[g]) for g in groups]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def can_evaluate(split) -> bool:
    """Whether ``split`` carries what ranking evaluation needs: query ids and a truth."""
    return "query_id" in split.extras and any(k in split.extras for k in TRUTHS)


def rank_metrics(scores, split, groups, k: int) -> Dict[str, Dict[str, float]]:
    """{truth: {"ndcg": NDCG@k, "auc": slate AUC}} of ranking by ``scores``, means over the slates."""
    ndcg = _graded().ndcg_at_k
    scores = np.asarray(scores, np.float64)
    return {truth: {"ndcg": mean_over_slates(lambda s, r: ndcg(s, r, k), scores, split.extras[truth], groups),
                    "auc": mean_over_slates(slate_auc, scores, split.extras[truth], groups)}
            for truth in TRUTHS if truth in split.extras}


def evaluate_ranking(model: keras.Model, tasks, split, weights=None, combine: str = "sum", k: int = 5) -> dict:
    """Rank every query of ``split`` with the serving model and score it against the kept truth.

    Returns {"k", "combine", "weights": {task: w}, "queries",
    "score": {truth: {"ndcg", "auc"}} (the served ranking), "tasks": {task: {truth: ...}} (each
    task's prediction alone), "logged": {truth: ...} (the logged order, if the split has positions)}.
    """
    from mtl_tf.training.evaluation import Predictor
    if not can_evaluate(split):
        raise ValueError(f"Ranking evaluation needs extras 'query_id' and one of {TRUTHS}; this split has "
                         f"{sorted(split.extras)}.")
    weights = score_weights([] if weights is None else list(weights), tasks)
    outputs = Predictor(serving_model(model))(split)
    predictions = score_inputs(tasks, outputs)
    groups = slates(split.extras["query_id"])
    results = {
        "k": int(k), "combine": combine, "weights": {t.name: float(w) for t, w in zip(tasks, weights)},
        "queries": len(groups),
        "score": rank_metrics(_graded().combine_scores(predictions, weights, combine), split, groups, k),
        "tasks": {t.name: rank_metrics(predictions[:, i], split, groups, k) for i, t in enumerate(tasks)},
    }
    if "position" in split.features:
        results["logged"] = rank_metrics(-np.asarray(split.features["position"], np.float64), split, groups, k)
    return results


SCORE_OPTIONS = {"score_weights": [], "score_combine": parameter_default(evaluate_ranking, "combine"),
                 "ndcg_k": parameter_default(evaluate_ranking, "k")}


def evaluate_ranking_from_flags(model: keras.Model, tasks, split, values=None, **options) -> dict:
    """``evaluate_ranking`` with ``SCORE_OPTIONS`` (keywords, else ``values``'s attributes: ``--score_weights``,
    ``--score_combine``, ``--ndcg_k``)."""
    o = resolve(SCORE_OPTIONS, values, options, "ranking option")
    return evaluate_ranking(model, tasks, split, o.score_weights, o.score_combine, o.ndcg_k)


def format_ranking(results: dict) -> str:
    """A plain-text table of ``evaluate_ranking``'s results: one row per ranking, NDCG and AUC per truth."""
    k = results["k"]
    rows = [("served score", results["score"])] + [(f"{n} alone", r) for n, r in results["tasks"].items()]
    if "logged" in results:
        rows.append(("logged order", results["logged"]))
    truths = list(results["score"])
    header = ["ranking"] + [f"{m}/{t}" for t in truths for m in (f"ndcg@{k}", "auc")]
    table = [header] + [[name] + [f"{r[t][m]:.4f}" for t in truths for m in ("ndcg", "auc")] for name, r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    weights = ", ".join(f"{n}={w:g}" for n, w in results["weights"].items())
    return (f"Ranking on {results['queries']} test queries, score = {results['combine']} of ({weights}):\n"
            + "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:]))
