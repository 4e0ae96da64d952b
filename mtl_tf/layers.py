"""Custom Keras layers the builders are made of: they hold the weights, the graded code does the math.

Each layer keeps its variables and calls a pure function of the selected implementation
(``impl.module("conditioning")`` or ``impl.module("architectures")``) on them, so a student's
function runs inside every model that uses it. Every layer has ``get_config`` and is
registered, so a model saves to ``.keras`` and loads back with ``keras.models.load_model``.

| layer | what | graded function |
|---|---|---|
| ``TaskDescriptors`` | z_t for every task t (one-hot, learned embedding or metadata), broadcast to the batch | -- |
| ``ConditionedDense`` | dense layer conditioned on z: concat / additive / multiplicative / FiLM | conditioning.* |
| ``GatedSelect`` | y = sum_j 1(z = j) y_j | conditioning.gated_outputs |
| ``TaskColumnsDense`` | one dense layer per task (task-owned) + soft-sharing or relation penalty via ``add_loss`` | architectures.soft_sharing_penalty / deep_relation_regularizer |
| ``CrossStitch`` | per-channel linear mixing of the task columns | architectures.cross_stitch_mix |
| ``SluiceUnit`` | mixing of the task columns' subspaces, optional subspace orthogonality penalty | architectures.sluice_mix |
| ``LayerMix`` | a task's learned weighting of its column's layers (sluice's beta) | -- |
| ``ExpertGate`` | one softmax gate over experts, optional gate dropout, mixture of the experts | architectures.mixture_of_experts |
| ``TaskAttention`` | a task's soft attention mask over shared features (MTAN) | architectures.attention_mask |
| ``PositionBiasTower`` | shallow tower: bias logit from (position, device), position dropout in training | ranking.drop_positions |
| ``MissingPositions`` | the "unknown position" input of the serving model | -- |

Ownership follows ``mtl_tf.models``: a layer named ``"<task>.<rest>"`` -- at the top of a
variable's path or nested inside a shared container such as ``TaskColumnsDense`` -- belongs
to that task.
"""

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_tf import impl

_register = keras.saving.register_keras_serializable(package="mtl_tf")


def _conditioning():
    return impl.module("conditioning")


def _architectures():
    return impl.module("architectures")


@_register
class TaskDescriptors(keras.layers.Layer):
    """The task descriptors z_1..z_T, each broadcast to the batch.

    Args:
      table: [T, m] initial descriptor matrix (row t is z_t).
      trainable_table: learn the rows (a task embedding) or keep them fixed (one-hot, metadata).
    Call: ``layer(x)`` with x [B, ...] -> list of T tensors [B, m], the t-th filled with z_t.
    """

    def __init__(self, table, trainable_table: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.initial_table = np.asarray(table, np.float32)
        if self.initial_table.ndim != 2:
            raise ValueError(f"a task descriptor table must be [T, m], got shape {self.initial_table.shape}.")
        self.trainable_table = bool(trainable_table)

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=self.initial_table.shape,
                                     initializer=keras.initializers.Constant(self.initial_table),
                                     trainable=self.trainable_table)

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], self.initial_table.shape[1])] * self.initial_table.shape[0]

    def call(self, x):
        batch = tf.shape(x)[0]
        m = self.initial_table.shape[1]
        return [tf.broadcast_to(self.table[t][None, :], tf.stack([batch, m]))
                for t in range(self.initial_table.shape[0])]

    def get_config(self):
        return {**super().get_config(), "table": self.initial_table.tolist(),
                "trainable_table": self.trainable_table}


CONDITIONING_MODES = ("concat", "additive", "multiplicative", "film")


@_register
class ConditionedDense(keras.layers.Layer):
    """A dense layer whose pre-activation is conditioned on the task descriptor z.

    Modes (W, b: the dense weights; h [B, F], z [B, m]):
      concat:         act([h, z] @ K + b)                 K [F + m, U]
      additive:       act(h @ W + z @ P + b)              P [m, U]
      multiplicative: act((h @ W + b) * (z @ S))          S [m, U], initialised to ones
      film:           act((h @ W + b) * (z @ S) + z @ R)  R [m, U], initialised to zeros
    Call: ``layer([h, z])`` -> [B, units].
    """

    def __init__(self, units: int, mode: str, activation="relu", **kwargs):
        super().__init__(**kwargs)
        if mode not in CONDITIONING_MODES:
            raise ValueError(f"conditioning mode must be one of {CONDITIONING_MODES}, got {mode!r}.")
        self.units, self.mode = int(units), mode
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        (_, f), (_, m) = input_shape[0], input_shape[1]
        u = self.units
        if self.mode == "concat":
            self.kernel = self.add_weight(name="kernel", shape=(f + m, u), initializer="glorot_uniform")
        else:
            self.kernel = self.add_weight(name="kernel", shape=(f, u), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(u,), initializer="zeros")
        if self.mode == "additive":
            self.projection = self.add_weight(name="projection", shape=(m, u), initializer="glorot_uniform")
        if self.mode in ("multiplicative", "film"):
            self.scale = self.add_weight(name="scale", shape=(m, u), initializer="ones")
        if self.mode == "film":
            self.shift = self.add_weight(name="shift", shape=(m, u), initializer="zeros")

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def call(self, inputs):
        h, z = inputs
        c = _conditioning()
        if self.mode == "concat":
            a = c.concat_conditioning(h, z, self.kernel, self.bias)
        elif self.mode == "additive":
            a = c.additive_conditioning(h, z, self.kernel, self.projection, self.bias)
        else:
            a = tf.matmul(h, self.kernel) + self.bias
            a = c.multiplicative_conditioning(a, z, self.scale, self.shift if self.mode == "film" else None)
        return self.activation(a)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "mode": self.mode,
                "activation": keras.activations.serialize(self.activation)}


@_register
class GatedSelect(keras.layers.Layer):
    """Multiplicative gating: ``layer([y_1, ..., y_J, z])`` -> sum_j z[:, j] * y_j, [B, U]."""

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def call(self, inputs):
        *ys, z = inputs
        return _conditioning().gated_outputs(tf.stack(ys, axis=1), z)


PENALTIES = ("none", "soft_sharing", "relation")


@_register
class TaskColumnsDense(keras.layers.Layer):
    """One Dense layer per task, side by side, with an optional penalty tying them.

    The per-task Dense layers are named ``"<task>.<layer_name>"`` so they belong to their
    task (this container itself owns no variable). The penalty enters the objective through
    ``add_loss`` (the train step adds ``model.losses``):
      soft_sharing: weight * sum_{t<t'} ||theta_t - theta_t'||^2 (slide 23);
      relation:     weight * tr(W Omega^-1 W^T), W = [theta_1 ... theta_T] flattened, with the task
                    covariance Omega re-estimated from the current W in closed form (no gradient
                    through Omega) -- the deep relation network's matrix-normal prior.
    Call: ``layer([h_1, ..., h_T])`` -> ``[out_1, ..., out_T]``, each [B, units].
    """

    def __init__(self, units: int, task_names: Sequence[str], layer_name: str, activation="relu",
                 penalty: str = "none", weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}.")
        self.units, self.task_names, self.layer_name = int(units), list(task_names), layer_name
        self.activation = keras.activations.get(activation)
        self.penalty, self.weight = penalty, float(weight)
        self.columns = [keras.layers.Dense(self.units, activation=self.activation, name=f"{t}.{layer_name}")
                        for t in self.task_names]

    def build(self, input_shape):
        for column, shape in zip(self.columns, input_shape):
            column.build(shape)

    def compute_output_shape(self, input_shape):
        return [(s[0], self.units) for s in input_shape]

    def regularization(self):
        """The penalty on the current weights (a scalar tensor; 0 for ``penalty='none'``)."""
        params = [[c.kernel, c.bias] for c in self.columns]
        if self.penalty == "soft_sharing":
            return _architectures().soft_sharing_penalty(params, self.weight)
        if self.penalty == "relation":
            a = _architectures()
            w = tf.stack([tf.concat([tf.reshape(p, [-1]) for p in ps], 0) for ps in params], axis=1)
            omega = tf.stop_gradient(a.task_covariance(w))
            return self.weight * a.deep_relation_regularizer(w, omega)
        return tf.constant(0.0)

    def call(self, inputs):
        if self.penalty != "none" and self.weight > 0:
            self.add_loss(self.regularization())
        return [column(h) for column, h in zip(self.columns, inputs)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "task_names": self.task_names,
                "layer_name": self.layer_name, "activation": keras.activations.serialize(self.activation),
                "penalty": self.penalty, "weight": self.weight}


@_register
class CrossStitch(keras.layers.Layer):
    """Cross-stitch unit (Misra et al. 2016): per-channel linear mixing of T task columns.

    alpha [T, T, C] starts at ``alpha_same`` on the diagonal and ``alpha_other / (T - 1)`` off it,
    so each row sums to alpha_same + alpha_other (for T = 2 exactly the pair (0.9, 0.1)).
    With (1, 0) the unit is the identity: the columns are independent networks.
    Call: ``layer([h_1, ..., h_T])`` (each [B, C]) -> list of T mixed [B, C].
    """

    def __init__(self, alpha_same: float = 0.9, alpha_other: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.alpha_same, self.alpha_other = float(alpha_same), float(alpha_other)

    def build(self, input_shape):
        t, c = len(input_shape), input_shape[0][-1]
        off = self.alpha_other / max(t - 1, 1)
        init = np.full((t, t, c), off, np.float32)
        init[np.arange(t), np.arange(t)] = self.alpha_same
        self.alpha = self.add_weight(name="alpha", shape=(t, t, c), initializer=keras.initializers.Constant(init))

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def call(self, inputs):
        mixed = _architectures().cross_stitch_mix(tf.stack(inputs, axis=0), self.alpha)
        return tf.unstack(mixed, num=len(inputs), axis=0)

    def get_config(self):
        return {**super().get_config(), "alpha_same": self.alpha_same, "alpha_other": self.alpha_other}


@_register
class SluiceUnit(keras.layers.Layer):
    """Sluice network unit (Ruder et al. 2017): each column's C channels are split into G subspaces
    and alpha [T*G, T*G] mixes all (task, subspace) pairs; row (t, g) starts at ``alpha_same`` for
    itself and ``alpha_other / (T - 1)`` for the same subspace of each other task, 0 elsewhere.
    With ``orthogonality`` > 0 it adds orthogonality * sum_t sum_{g<g'} ||H_tg^T H_tg'||_F^2
    (the subspaces of one column should encode different things) to ``model.losses``.
    Call: ``layer([h_1, ..., h_T])`` (each [B, C], C divisible by G) -> list of T mixed [B, C].
    """

    def __init__(self, num_subspaces: int = 2, alpha_same: float = 0.9, alpha_other: float = 0.1,
                 orthogonality: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_subspaces, self.orthogonality = int(num_subspaces), float(orthogonality)
        self.alpha_same, self.alpha_other = float(alpha_same), float(alpha_other)

    def build(self, input_shape):
        t, g, c = len(input_shape), self.num_subspaces, input_shape[0][-1]
        if c % g:
            raise ValueError(f"sluice unit {self.name!r}: {c} channels cannot be split into {g} equal subspaces; "
                             "use hidden widths divisible by --num_subspaces.")
        task_block = np.full((t, t), self.alpha_other / max(t - 1, 1), np.float32)
        np.fill_diagonal(task_block, self.alpha_same)
        init = np.kron(task_block, np.eye(g, dtype=np.float32))  # index (task, subspace) = task * G + subspace
        self.alpha = self.add_weight(name="alpha", shape=init.shape, initializer=keras.initializers.Constant(init))

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def call(self, inputs):
        columns = tf.stack(inputs, axis=0)
        if self.orthogonality > 0:
            c = columns.shape[-1] // self.num_subspaces
            parts = [columns[..., i * c:(i + 1) * c] for i in range(self.num_subspaces)]
            total = tf.add_n([tf.reduce_sum(tf.square(tf.matmul(parts[i], parts[j], transpose_a=True)))
                              for i in range(len(parts)) for j in range(i + 1, len(parts))])
            self.add_loss(self.orthogonality * total)
        mixed = _architectures().sluice_mix(columns, self.alpha, self.num_subspaces)
        return tf.unstack(mixed, num=len(inputs), axis=0)

    def get_config(self):
        return {**super().get_config(), "num_subspaces": self.num_subspaces, "alpha_same": self.alpha_same,
                "alpha_other": self.alpha_other, "orthogonality": self.orthogonality}


@_register
class LayerMix(keras.layers.Layer):
    """A task's learned weights beta over its column's L layer outputs (sluice networks):
    ``layer([h_1, ..., h_L])`` -> concat(beta_1 h_1, ..., beta_L h_L), beta initialised to 1 / L."""

    def build(self, input_shape):
        n = len(input_shape)
        self.beta = self.add_weight(name="beta", shape=(n,), initializer=keras.initializers.Constant(1.0 / n))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], sum(s[-1] for s in input_shape))

    def call(self, inputs):
        return tf.concat([self.beta[i] * h for i, h in enumerate(inputs)], axis=-1)


@_register
class ExpertGate(keras.layers.Layer):
    """A softmax gate over E experts and the mixture it selects (MMoE, CGC/PLE).

    The gate's logits are a linear function of the gate input. With ``dropout`` > 0, during
    training each expert's gate value is dropped with that probability and the rest are
    renormalised to sum to 1 (if all are dropped the gate is kept as is).
    Call: ``layer([gate_input, e_1, ..., e_E])`` (gate_input [B, d], e_i [B, U]) -> [B, U].
    ``gates(gate_input)`` -> [B, E], the gate's distribution over the experts.
    """

    def __init__(self, num_experts: int, dropout: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_experts, self.dropout, self.seed = int(num_experts), float(dropout), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        d = input_shape[0][-1]
        self.kernel = self.add_weight(name="kernel", shape=(d, self.num_experts), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.num_experts,), initializer="zeros")

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def logits(self, gate_input):
        return tf.matmul(gate_input, self.kernel) + self.bias

    def gates(self, gate_input):
        """[B, E] gate distribution (no dropout)."""
        experts = tf.zeros([tf.shape(gate_input)[0], self.num_experts, 1])
        return _architectures().mixture_of_experts(experts, self.logits(gate_input))[1]

    def call(self, inputs, training=None):
        gate_input, *experts = inputs
        if len(experts) != self.num_experts:
            raise ValueError(f"gate {self.name!r} was built for {self.num_experts} experts, got {len(experts)}.")
        stacked = tf.stack(experts, axis=1)
        mixed, gates = _architectures().mixture_of_experts(stacked, self.logits(gate_input))
        if training and self.dropout > 0:
            keep = keras.random.uniform(tf.shape(gates), seed=self.seed_generator) >= self.dropout
            kept = gates * tf.cast(keep, gates.dtype)
            total = tf.reduce_sum(kept, axis=1, keepdims=True)
            gates = tf.where(total > 0, kept / tf.maximum(total, 1e-12), gates)
            mixed = tf.einsum("be,beu->bu", gates, stacked)
        return mixed

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts, "dropout": self.dropout,
                "seed": self.seed}


@_register
class TaskAttention(keras.layers.Layer):
    """A task's soft attention mask over shared features (MTAN, Liu et al. 2019).

    mask = sigmoid([f, previous] @ K + b); returns f * mask.
    Call: ``layer([f])`` or ``layer([f, previous])`` with f [B, C] the shared features at this
    depth and previous [B, C'] the task's attended features one level down -> [B, C].
    """

    def build(self, input_shape):
        c = input_shape[0][-1]
        d = sum(s[-1] for s in input_shape)
        self.kernel = self.add_weight(name="kernel", shape=(d, c), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(c,), initializer="zeros")

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def call(self, inputs):
        logits = tf.matmul(tf.concat(inputs, axis=-1), self.kernel) + self.bias
        return _architectures().attention_mask(inputs[0], logits)


def _ranking():
    return impl.module("ranking")


@_register
class PositionBiasTower(keras.layers.Layer):
    """The shallow tower of the recommendation case study: a bias logit from position and device.

    logit = relu(P[position] + D[device] + b) @ w + c, with P [num_positions + 1, units] (row 0 is
    the *missing* position, ``ranking.MISSING_POSITION``), D [num_devices, units]. Positions above
    ``num_positions`` share its row; devices are clipped to 0..num_devices-1. During training each
    example's position is hidden with probability ``dropout`` (``ranking.drop_positions``), so
    row 0 learns the bias of an unknown position, which is what serving uses.
    Call: ``layer([position [B] int32, device [B] int32])`` -> [B, 1] bias logit.
    """

    def __init__(self, num_positions: int = 20, num_devices: int = 4, units: int = 8, dropout: float = 0.1,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_positions, self.num_devices, self.units = int(num_positions), int(num_devices), int(units)
        self.dropout, self.seed = float(dropout), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        u = self.units
        self.position_table = self.add_weight(name="position_table", shape=(self.num_positions + 1, u),
                                              initializer="glorot_uniform")
        self.device_table = self.add_weight(name="device_table", shape=(self.num_devices, u),
                                            initializer="glorot_uniform")
        self.hidden_bias = self.add_weight(name="hidden_bias", shape=(u,), initializer="zeros")
        self.kernel = self.add_weight(name="kernel", shape=(u, 1), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros")

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def call(self, inputs, training=None):
        position, device = (tf.cast(tf.reshape(v, [-1]), tf.int32) for v in inputs)
        if training and self.dropout > 0:
            noise = keras.random.uniform(tf.shape(position), seed=self.seed_generator)
            position = _ranking().drop_positions(position, self.dropout, noise)
        position = tf.clip_by_value(position, 0, self.num_positions)
        device = tf.clip_by_value(device, 0, self.num_devices - 1)
        h = tf.nn.relu(tf.gather(self.position_table, position) + tf.gather(self.device_table, device)
                       + self.hidden_bias)
        return tf.matmul(h, self.kernel) + self.bias

    def get_config(self):
        return {**super().get_config(), "num_positions": self.num_positions, "num_devices": self.num_devices,
                "units": self.units, "dropout": self.dropout, "seed": self.seed}


@_register
class MissingPositions(keras.layers.Layer):
    """``layer(device [B])`` -> [B] int32 filled with ``ranking.MISSING_POSITION`` (serving: position unknown)."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def call(self, device):
        return tf.fill(tf.shape(tf.reshape(device, [-1])), tf.constant(_ranking().MISSING_POSITION, tf.int32))
