"""The recommendation case study (slides 26-30): rank a slate with a multi-task model.

A ranker predicts several things about each candidate -- engagement (click, watch time) and
satisfaction (like, rating) -- and serves the candidates sorted by one *ranking score*, a
weighted combination of those predictions. Two problems from the lecture:

* the objectives conflict (clickbait is clicked but not liked): the score weights trade them off;
* the log is biased by the ranker that produced it: items shown higher are clicked more *because*
  they were shown higher. A *shallow tower* that sees only the position (and device) learns that
  bias as a logit added to the click logit during training; at serving the position is unknown
  ("missing"), so the main model's click prediction is (closer to) the position-free relevance.

The pure functions below are the graded math; ``mtl_tf.layers.PositionBiasTower`` (the tower's
weights) and ``mtl_tf.ranking`` (the model wrapper, the serving model, the evaluation) call them.

| function | what |
|---|---|
| ``drop_positions`` | position dropout: replace a random fraction of positions by ``MISSING_POSITION`` |
| ``combine_scores`` | the ranking score: weighted sum or weighted product of the task predictions |
| ``ndcg_at_k`` | NDCG@k of one slate ranked by a score, against the true relevance |
| ``mmoe_on_shared`` | MMoE whose experts and gates sit on a shared hidden layer (the YouTube ranker) |
"""

import keras
import numpy as np
import tensorflow as tf

from mtl_tf.layers import ExpertGate
from mtl_tf.models import model_inputs, task_layer_name

from .architectures import _experts, backbone_features, mlp, task_head

MISSING_POSITION = 0          # positions are 1-based; 0 means "unknown" (serving, or dropped in training)
COMBINE_MODES = ("sum", "product")


def drop_positions(position, rate, noise):
    """Position dropout: hide the position of a random fraction ``rate`` of the examples.

    Args:
      position: [B] int32 positions (1-based).
      rate: float in [0, 1], the dropout probability.
      noise: [B] float32 uniform in [0, 1), one draw per example (the caller draws it, so the
        function is deterministic given its inputs).
    Returns:
      [B] int32: ``MISSING_POSITION`` where ``noise < rate``, the original position elsewhere.
      (rate 0 keeps every position, rate 1 hides all of them.)
    """
    # BEGIN SOLUTION
    position = tf.convert_to_tensor(position)
    return tf.where(tf.convert_to_tensor(noise) < rate, tf.constant(MISSING_POSITION, position.dtype), position)
    # END SOLUTION


def combine_scores(predictions, weights, mode="sum", eps=1e-6):
    """The ranking score of every item from its T task predictions.

    Args:
      predictions: [N, T] float, each prediction in (0, 1] (probabilities, or regression predictions
        squashed into (0, 1); ``mtl_tf.ranking.score_inputs`` makes them).
      weights: [T] non-negative floats, one per task.
      mode: "sum": score = sum_t w_t * p_t;
            "product": score = prod_t p_t ** w_t, computed as exp(sum_t w_t * log(max(p_t, eps)))
            (a task with weight 0 has no effect; weight 2 counts it twice).
      eps: floor for the logarithm in "product".
    Returns:
      [N] float64 numpy array of scores (higher ranks first).
    """
    if mode not in COMBINE_MODES:
        raise ValueError(f"mode must be one of {COMBINE_MODES}, got {mode!r}.")
    # BEGIN SOLUTION
    p = np.asarray(predictions, np.float64)
    w = np.asarray(weights, np.float64)
    if mode == "sum":
        return p @ w
    return np.exp(np.log(np.maximum(p, eps)) @ w)
    # END SOLUTION


def ndcg_at_k(scores, relevance, k):
    """NDCG@k of one slate: the items ranked by ``scores`` (highest first) against their true relevance.

    DCG@k = sum over the first min(k, n) ranks r = 1, 2, ... of relevance(item at rank r) / log2(r + 1)
    (linear gain; rank 1 is not discounted). NDCG@k = DCG@k of the ranking by ``scores`` divided by
    DCG@k of the ideal ranking (by ``relevance`` itself). Ties in ``scores`` keep the input order
    (a stable sort of -scores).

    Args:
      scores: [n] float, the served score of each item of the slate.
      relevance: [n] float >= 0, the true relevance of each item.
      k: int >= 1, the cut-off.
    Returns:
      A Python float in [0, 1]; 0.0 if the ideal DCG is 0 (no relevant item).
    """
    # BEGIN SOLUTION
    scores, relevance = np.asarray(scores, np.float64), np.asarray(relevance, np.float64)
    depth = min(int(k), len(scores))
    discount = 1.0 / np.log2(np.arange(2, depth + 2))
    dcg = float(relevance[np.argsort(-scores, kind="stable")][:depth] @ discount)
    ideal = float(np.sort(relevance)[::-1][:depth] @ discount)
    return dcg / ideal if ideal > 0 else 0.0
    # END SOLUTION


def mmoe_on_shared(input_shape, tasks, hidden_units=(64,), num_experts=4, expert_units=(32,), tower_units=(16,),
                   gate_dropout=0.0, backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """MMoE on top of a shared hidden layer (the YouTube ranker, slide 30; Zhao et al. 2019).

    x -> stem -> shared hidden layers ``hidden_units`` (ReLU, named ``shared.<i>``) = h;
    ``num_experts`` experts (MLPs of ``expert_units`` on h, named ``expert.<e>``); per task a gate
    on h (``ExpertGate`` named ``"<t>.gate"`` with ``gate_dropout``) mixing the experts, then the
    task's tower (``task_head``). Compared with ``architectures.mmoe`` the experts do not read the
    raw features: the shared layer is learned by every task, the experts specialise on top of it.

    Returns:
      A functional keras.Model obeying the contract.
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    h = mlp(backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem"), hidden_units, "shared")
    experts = _experts(h, num_experts, expert_units, "expert")
    outputs = {}
    for t in tasks:
        mixed = ExpertGate(num_experts, gate_dropout, name=task_layer_name(t.name, "gate"))([h, *experts])
        outputs[t.name] = task_head(mixed, t, tower_units)
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="mmoe_on_shared")
