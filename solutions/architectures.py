"""Sharing architectures: how much of the network the tasks share (slides 12, 14-16, 22-23, 30).

Every builder follows the model contract of ``mtl_tf.models``:
inputs ``{"x": [B, *input_shape], "task": [B] int32}``, outputs
``{task.name: [B, task.output_size]}`` (raw outputs: logits for classification).
Layers that belong to one task are named with ``task_layer_name(task.name, ...)``;
every other layer is shared.

| builder | shares | flags (defined in ``mtl_tf.models``) |
|---|---|---|
| ``shared_bottom`` | the whole trunk (hard sharing; the multi-head architecture) | hidden_units, tower_units |
| ``independent`` | nothing | hidden_units, tower_units, backbone |
| ``soft_sharing`` | nothing, but lambda sum_{t<t'} ||theta_t - theta_t'||^2 pulls the columns together | + soft_sharing_weight |
| ``cross_stitch`` | learned per-channel mixing of the task columns after each layer | + cross_stitch_init |
| ``sluice`` | cross-stitch between subspaces of the columns, learned layer weights per task | + num_subspaces, sluice_orthogonality |
| ``mmoe`` | E experts, one softmax gate per task | num_experts, expert_units, gate_dropout |
| ``cgc`` / ``ple`` | shared + task-specific experts; PLE stacks levels with a shared-expert gate | + num_task_experts, num_levels |
| ``mtan`` | a shared trunk; each task attends to its features with soft masks | hidden_units, tower_units |
| ``deep_relation`` | a shared trunk; towers tied by a matrix-normal prior with learned task covariance | + relation_weight |

Every builder takes ``backbone`` ("mlp" for vectors, "conv": a small conv stem for images
[H, W, C]) and ``conv_filters``. The custom layers (weights) are in ``mtl_tf.layers``; the
math they call is the graded functions of this module.
"""

import keras
import tensorflow as tf

from mtl_tf.layers import CrossStitch, ExpertGate, LayerMix, SluiceUnit, TaskAttention, TaskColumnsDense
from mtl_tf.models import model_inputs, task_layer_name

BACKBONES = ("mlp", "conv")


def mlp(h, units, name: str, activation: str = "relu"):
    """Stack of Dense layers named ``{name}.0``, ``{name}.1``, ... applied to ``h``."""
    for i, u in enumerate(units):
        h = keras.layers.Dense(u, activation=activation, name=f"{name}.{i}")(h)
    return h


def task_head(h, task, tower_units):
    """One task's tower and output layer, all named as owned by ``task``.

    Args:
      h: [B, F] features.
      task: an ``mtl_tf.tasks.Task``.
      tower_units: widths of the tower's hidden layers (may be empty).
    Returns:
      [B, task.output_size] raw outputs.
    """
    h = mlp(h, tower_units, task_layer_name(task.name, "tower"))
    return keras.layers.Dense(task.output_size, name=task_layer_name(task.name, "out"))(h)


def backbone_features(x, input_shape, backbone="mlp", conv_filters=(16, 32), name="stem"):
    """The features ``x`` as a [B, F] vector:
    flattened ("mlp") or passed through a small conv stem ("conv": per filter count a 3x3
    ReLU convolution and a 2x2 max-pool, then global average pooling; images [H, W, C]).
    Layers are named ``{name}.*``: pass ``task_layer_name(task, "stem")`` for a task's own stem.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}.")
    h = x
    if backbone == "conv":
        if len(input_shape) != 3:
            raise ValueError(f"backbone='conv' needs image features of shape [H, W, C]; this data has "
                             f"input_shape {tuple(input_shape)}. Use --backbone=mlp for vector features.")
        for i, f in enumerate(conv_filters):
            h = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"{name}.conv.{i}")(h)
            if min(h.shape[1], h.shape[2]) >= 2:
                h = keras.layers.MaxPooling2D(2, name=f"{name}.pool.{i}")(h)
        return keras.layers.GlobalAveragePooling2D(name=f"{name}.gap")(h)
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name=f"{name}.flatten")(h)
    return h


def shared_bottom(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,)) -> keras.Model:
    """Hard parameter sharing (slide 14's multi-head architecture, "shared-bottom" in MMoE).

    x -> shared MLP (``hidden_units``, ReLU) -> for each task: its own tower
    (``tower_units``, ReLU) and a linear output of width ``task.output_size``.

    Args:
      input_shape: shape of one example's features, e.g. (100,). Flatten it if it
        has more than one axis.
      tasks: list of ``Task``.
      hidden_units: widths of the shared layers.
      tower_units: widths of each task's tower.
    Returns:
      A functional ``keras.Model`` obeying the contract. Shared layers must not be
      named with a task prefix; each task's layers must be (use ``task_head``).
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    h = inputs["x"]
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    h = mlp(h, hidden_units, "shared")
    outputs = {t.name: task_head(h, t, tower_units) for t in tasks}
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="shared_bottom")


# ---- the math of the sharing schemes ---------------------------------------------------------

def soft_sharing_penalty(task_weights, weight=1.0):
    """Soft parameter sharing (slide 23): weight * sum_{t<t'} ||theta_t - theta_t'||^2.

    Args:
      task_weights: list over T tasks of lists of tensors; entry k has the same shape for
        every task (e.g. [[kernel_1, bias_1], [kernel_2, bias_2]]).
      weight: lambda, a float.
    Returns:
      scalar float32; 0 exactly when all tasks' parameters are equal.
    """
    # BEGIN SOLUTION
    total = tf.constant(0.0)
    for a in range(len(task_weights)):
        for b in range(a + 1, len(task_weights)):
            for pa, pb in zip(task_weights[a], task_weights[b]):
                total += tf.reduce_sum(tf.square(tf.convert_to_tensor(pa) - tf.convert_to_tensor(pb)))
    return weight * total
    # END SOLUTION


def cross_stitch_mix(columns, alpha):
    """Cross-stitch unit: mix the task columns channel by channel.

    Args:
      columns: [T, B, C] -- column t's activations h_t.
      alpha: [T, T, C] -- alpha[t, s, c] is how much of column s's channel c goes to column t.
    Returns:
      [T, B, C]: out[t, :, c] = sum_s alpha[t, s, c] * columns[s, :, c]. With alpha the
      identity (1 on the diagonal, 0 elsewhere) the output equals the input exactly.
    """
    # BEGIN SOLUTION
    return tf.einsum("tsc,sbc->tbc", alpha, columns)
    # END SOLUTION


def sluice_mix(columns, alpha, num_subspaces):
    """Sluice unit: split each column's channels into G subspaces and mix all (task, subspace) pairs.

    Args:
      columns: [T, B, C] -- column t's activations; C divisible by G = num_subspaces. Subspace g of
        column t is channels [g * C/G, (g + 1) * C/G).
      alpha: [T*G, T*G] -- alpha[i, j] is how much of pair j goes to pair i, pair (t, g) at index t*G + g.
      num_subspaces: G, a Python int.
    Returns:
      [T, B, C]: out pair i = sum_j alpha[i, j] * pair j, re-assembled into the columns' layout.
      With G = 1 this is a cross-stitch unit with one alpha per pair of columns.
    """
    # BEGIN SOLUTION
    t, c = columns.shape[0], columns.shape[-1]
    g = num_subspaces
    b = tf.shape(columns)[1]
    pairs = tf.reshape(tf.transpose(tf.reshape(columns, [t, b, g, c // g]), [0, 2, 1, 3]), [t * g, b, c // g])
    mixed = tf.einsum("ij,jbk->ibk", alpha, pairs)
    return tf.reshape(tf.transpose(tf.reshape(mixed, [t, g, b, c // g]), [0, 2, 1, 3]), [t, b, c])
    # END SOLUTION


def mixture_of_experts(expert_outputs, gate_logits):
    """One gate of a mixture of experts (MMoE): softmax over experts, then the weighted sum.

    Args:
      expert_outputs: [B, E, U] -- expert e's output for every example.
      gate_logits: [B, E] -- the gate's scores.
    Returns:
      (mixed [B, U], gates [B, E]): gates is the softmax of gate_logits over the experts
      (non-negative, each row sums to 1); mixed[b] = sum_e gates[b, e] * expert_outputs[b, e].
    """
    # BEGIN SOLUTION
    gates = tf.nn.softmax(gate_logits, axis=-1)
    return tf.einsum("be,beu->bu", gates, expert_outputs), gates
    # END SOLUTION


def attention_mask(features, mask_logits):
    """MTAN's task attention: a soft, per-feature mask in (0, 1) applied to shared features.

    Args:
      features: [B, C] shared features; mask_logits: [B, C].
    Returns:
      [B, C] = features * sigmoid(mask_logits).
    """
    # BEGIN SOLUTION
    return features * tf.sigmoid(mask_logits)
    # END SOLUTION


def task_covariance(w, eps=1e-6):
    """The closed-form task covariance of the deep relation network (Long & Wang 2015).

    Args:
      w: [D, T] -- column t is task t's parameters, flattened.
      eps: added to the diagonal of W^T W so the square root stays invertible.
    Returns:
      [T, T] Omega = (W^T W + eps I)^(1/2) / tr((W^T W + eps I)^(1/2)): symmetric, positive
      definite, trace 1. (Use the eigendecomposition for the matrix square root.)
    """
    # BEGIN SOLUTION
    t = tf.shape(w)[1]
    gram = tf.matmul(w, w, transpose_a=True) + eps * tf.eye(t)
    values, vectors = tf.linalg.eigh(gram)
    root = tf.matmul(vectors * tf.sqrt(tf.maximum(values, eps))[None, :], vectors, transpose_b=True)
    return root / tf.linalg.trace(root)
    # END SOLUTION


def deep_relation_regularizer(w, omega):
    """The matrix-normal prior's negative log-likelihood term: tr(W Omega^-1 W^T).

    Args:
      w: [D, T] -- column t is task t's parameters, flattened.
      omega: [T, T] symmetric positive-definite task covariance.
    Returns:
      scalar float32 tr(W Omega^-1 W^T). Solve a linear system rather than inverting Omega.
    """
    # BEGIN SOLUTION
    w_omega_inv = tf.transpose(tf.linalg.solve(omega, tf.transpose(w)))
    return tf.reduce_sum(w_omega_inv * w)
    # END SOLUTION


# ---- builders ----------------------------------------------------------------------------------

def independent(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp",
                conv_filters=(16, 32)) -> keras.Model:
    """No sharing: each task has its own stem, MLP ``hidden_units`` and tower, all task-owned.

    Task t's layers are named ``task_layer_name(t, "stem")...``, ``"<t>.hidden.<i>"`` and
    ``task_head``'s names, so every variable belongs to exactly one task.
    Returns:
      A functional keras.Model obeying the contract.
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    outputs = {}
    for t in tasks:
        h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, task_layer_name(t.name, "stem"))
        h = mlp(h, hidden_units, task_layer_name(t.name, "hidden"))
        outputs[t.name] = task_head(h, t, tower_units)
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="independent")


def _task_stems(inputs, input_shape, tasks, backbone, conv_filters):
    return [backbone_features(inputs["x"], input_shape, backbone, conv_filters, task_layer_name(t.name, "stem"))
            for t in tasks]


def soft_sharing(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), soft_sharing_weight=1e-3,
                 backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Independent task columns whose hidden layers are pulled together (slide 23).

    Hidden layer i of all columns is one ``TaskColumnsDense`` named ``soft_sharing.<i>`` whose
    per-task Dense layers are named ``"<t>.hidden.<i>"`` (task-owned); it adds
    ``soft_sharing_penalty`` of their kernels and biases times ``soft_sharing_weight`` to
    ``model.losses``. Stems (conv) and towers are task-owned and not penalised.
    """
    inputs = model_inputs(input_shape)
    names = [t.name for t in tasks]
    hs = _task_stems(inputs, input_shape, tasks, backbone, conv_filters)
    for i, u in enumerate(hidden_units):
        hs = TaskColumnsDense(u, names, f"hidden.{i}", penalty="soft_sharing", weight=soft_sharing_weight,
                              name=f"soft_sharing.{i}")(hs)
    outputs = {t.name: task_head(h, t, tower_units) for t, h in zip(tasks, hs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="soft_sharing")


def cross_stitch(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), cross_stitch_init=(0.9, 0.1),
                 backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Cross-stitch network (Misra et al. 2016): one column per task, mixed after every hidden layer.

    Column t is built like ``independent``'s network (same layer names: ``"<t>.hidden.<i>"``, task
    heads); after hidden layer i a shared ``CrossStitch`` unit named ``cross_stitch.<i>``,
    initialised to ``cross_stitch_init`` = (alpha_same, alpha_other), mixes the columns.
    With (1, 0) and the same weights the model equals ``independent`` exactly.
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    hs = _task_stems(inputs, input_shape, tasks, backbone, conv_filters)
    same, other = cross_stitch_init
    for i, u in enumerate(hidden_units):
        hs = [keras.layers.Dense(u, activation="relu", name=f"{task_layer_name(t.name, 'hidden')}.{i}")(h)
              for t, h in zip(tasks, hs)]
        hs = CrossStitch(same, other, name=f"cross_stitch.{i}")(hs)
    outputs = {t.name: task_head(h, t, tower_units) for t, h in zip(tasks, hs)}
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="cross_stitch")


def sluice(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), num_subspaces=2,
           cross_stitch_init=(0.9, 0.1), orthogonality=0.0, backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Sluice network (Ruder et al. 2017): cross-stitch at the level of subspaces, plus layer weights.

    One column per task (``"<t>.hidden.<i>"``); after hidden layer i a shared ``SluiceUnit``
    (``sluice.<i>``) mixes every (task, subspace) pair, initialised from ``cross_stitch_init``;
    ``orthogonality`` > 0 adds the subspace orthogonality penalty. Each task's tower reads
    ``LayerMix`` (``"<t>.layer_mix"``): its column's layer outputs weighted by learned beta.
    """
    inputs = model_inputs(input_shape)
    if not hidden_units:
        raise ValueError("sluice needs at least one hidden layer (--hidden_units) to mix.")
    hs = _task_stems(inputs, input_shape, tasks, backbone, conv_filters)
    same, other = cross_stitch_init
    layers = [[] for _ in tasks]
    for i, u in enumerate(hidden_units):
        hs = [keras.layers.Dense(u, activation="relu", name=f"{task_layer_name(t.name, 'hidden')}.{i}")(h)
              for t, h in zip(tasks, hs)]
        hs = SluiceUnit(num_subspaces, same, other, orthogonality, name=f"sluice.{i}")(hs)
        for column, h in zip(layers, hs):
            column.append(h)
    outputs = {t.name: task_head(LayerMix(name=task_layer_name(t.name, "layer_mix"))(column), t, tower_units)
               for t, column in zip(tasks, layers)}
    return keras.Model(inputs=inputs, outputs=outputs, name="sluice")


def _experts(h, count, units, name):
    return [mlp(h, units, f"{name}.{e}") for e in range(count)]


def mmoe(input_shape, tasks, num_experts=4, expert_units=(32,), tower_units=(16,), gate_dropout=0.0,
         backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Multi-gate mixture of experts (Ma et al. 2018).

    ``num_experts`` shared experts (MLPs of ``expert_units``, named ``expert.<e>``) on the input
    features; per task a softmax gate over the experts whose input is the same features
    (``ExpertGate`` named ``"<t>.gate"``, optional ``gate_dropout``) and a tower (``task_head``).
    The paper's configuration: d = 100, 8 experts of 16 units, towers of 8, 2 tasks.
    """
    inputs = model_inputs(input_shape)
    # BEGIN SOLUTION
    h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    experts = _experts(h, num_experts, expert_units, "expert")
    outputs = {}
    for t in tasks:
        mixed = ExpertGate(num_experts, gate_dropout, name=task_layer_name(t.name, "gate"))([h, *experts])
        outputs[t.name] = task_head(mixed, t, tower_units)
    # END SOLUTION
    return keras.Model(inputs=inputs, outputs=outputs, name="mmoe")


def ple(input_shape, tasks, num_levels=2, num_experts=2, num_task_experts=1, expert_units=(32,), tower_units=(16,),
        gate_dropout=0.0, backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Progressive layered extraction (Tang et al. 2020); ``num_levels=1`` is CGC.

    Level l: ``num_experts`` shared experts (``expert.<l>.<e>``) on the shared input and
    ``num_task_experts`` experts per task (``"<t>.expert.<l>.<e>"``) on the task's input. Task t's
    gate (``"<t>.gate.<l>"``) mixes its own and the shared experts into its next input; below the
    last level a shared gate (``shared_gate.<l>``) mixes *all* experts into the next shared input.
    Level 0's inputs are the input features; towers sit on the last level's task outputs.
    """
    inputs = model_inputs(input_shape)
    if num_levels < 1:
        raise ValueError(f"ple needs num_levels >= 1, got {num_levels}.")
    x = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    shared_in, task_in = x, [x] * len(tasks)
    for level in range(num_levels):
        shared = _experts(shared_in, num_experts, expert_units, f"expert.{level}")
        own = [_experts(h, num_task_experts, expert_units, task_layer_name(t.name, f"expert.{level}"))
               for t, h in zip(tasks, task_in)]
        next_task_in = [ExpertGate(num_task_experts + num_experts, gate_dropout,
                                   name=task_layer_name(t.name, f"gate.{level}"))([h, *mine, *shared])
                        for t, h, mine in zip(tasks, task_in, own)]
        if level < num_levels - 1:
            everything = [e for mine in own for e in mine] + shared
            shared_in = ExpertGate(len(everything), gate_dropout, name=f"shared_gate.{level}")([shared_in,
                                                                                               *everything])
        task_in = next_task_in
    outputs = {t.name: task_head(h, t, tower_units) for t, h in zip(tasks, task_in)}
    return keras.Model(inputs=inputs, outputs=outputs, name="ple" if num_levels > 1 else "cgc")


def cgc(input_shape, tasks, num_experts=2, num_task_experts=1, expert_units=(32,), tower_units=(16,),
        gate_dropout=0.0, backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Customized gate control (Tang et al. 2020): one level of ``ple``."""
    return ple(input_shape, tasks, 1, num_experts, num_task_experts, expert_units, tower_units, gate_dropout,
               backbone, conv_filters)


def mtan(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), backbone="mlp",
         conv_filters=(16, 32)) -> keras.Model:
    """Task attention in the style of MTAN (Liu et al. 2019).

    A shared trunk computes f_0..f_{L-1} (``shared.<i>``). Task t attends to each level with its
    own ``TaskAttention`` (``"<t>.attention.<i>"``): a_0 = f_0 * sigmoid(. f_0),
    a_i = f_i * sigmoid(. [f_i, a_{i-1}]); its tower reads a_{L-1}.
    """
    inputs = model_inputs(input_shape)
    if not hidden_units:
        raise ValueError("mtan needs at least one shared hidden layer (--hidden_units) to attend to.")
    h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    shared = []
    for i, u in enumerate(hidden_units):
        h = keras.layers.Dense(u, activation="relu", name=f"shared.{i}")(h)
        shared.append(h)
    outputs = {}
    for t in tasks:
        a = None
        for i, f in enumerate(shared):
            a = TaskAttention(name=task_layer_name(t.name, f"attention.{i}"))([f] if a is None else [f, a])
        outputs[t.name] = task_head(a, t, tower_units)
    return keras.Model(inputs=inputs, outputs=outputs, name="mtan")


def deep_relation(input_shape, tasks, hidden_units=(64, 64), tower_units=(32,), relation_weight=1e-3,
                  backbone="mlp", conv_filters=(16, 32)) -> keras.Model:
    """Deep relation network (Long & Wang 2015): shared trunk, task towers tied by a prior.

    Tower layer i of all tasks is one ``TaskColumnsDense`` named ``relation.<i>`` (per-task layers
    ``"<t>.tower.<i>"``) that adds ``relation_weight * deep_relation_regularizer(W, Omega)`` to
    ``model.losses``, Omega re-estimated from the current W by ``task_covariance`` each step
    (no gradient through it). Output layers are task-owned and not tied (sizes differ by kind).
    """
    if not tower_units:
        raise ValueError("deep_relation ties the task towers: give it at least one tower layer (--tower_units).")
    inputs = model_inputs(input_shape)
    names = [t.name for t in tasks]
    h = backbone_features(inputs["x"], input_shape, backbone, conv_filters, "stem")
    h = mlp(h, hidden_units, "shared")
    hs = [h] * len(tasks)
    for i, u in enumerate(tower_units):
        hs = TaskColumnsDense(u, names, f"tower.{i}", penalty="relation", weight=relation_weight,
                              name=f"relation.{i}")(hs)
    outputs = {t.name: keras.layers.Dense(t.output_size, name=task_layer_name(t.name, "out"))(h)
               for t, h in zip(tasks, hs)}
    return keras.Model(inputs=inputs, outputs=outputs, name="deep_relation")
