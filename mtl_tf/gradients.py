"""Gradient-method registry (``--grad_method``) and the step that uses per-task gradients.

A gradient method turns the per-task gradients of the SHARED variables into one update. The
graded math is in the implementation's ``gradients`` module (pure functions of a [K, P] matrix
holding the rows of the tasks present this step); this module:

* drops absent tasks' rows before the graded function sees them (``tf.gather`` on the present
  ids: K varies by step in task-sampled mode, shapes stay symbolic, the step is traced once) and
  scatters the weights back to [T] for logging;
* owns the state (PCGrad's seed counter), the trunk and per-task head views for MGDA-UB;
* runs the graded solvers (PCGrad, MGDA's Frank-Wolfe, CAGrad) XLA-compiled inside the step when
  a probe shows they compile cleanly (``compiled_solver``), as written otherwise;
* runs the step (``gradient_step``): per-task gradients of the shared variables (or of the shared
  representation), the method's update for them; each task's own variables, the objective's
  variables and the regularizers take the ordinary gradient of the objective.

Per-task gradient rows are ``(d objective / d L_i) * grad L_i``, so a loss-weighting objective
(static weights, uncertainty, DWA) composes with any method: the method sees each task's
gradient as the objective weights it.
"""

from typing import Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

from mtl_tf import impl
from mtl_tf.cli import first_line
from mtl_tf.models import split_variables, variable_owner

flags.DEFINE_float("cagrad_c", 0.5, "CAGrad's conflict-averse radius c (>= 0; 0 gives the mean gradient).",
                   lower_bound=0.0)
flags.DEFINE_integer("mgda_max_iterations", 250, "Frank-Wolfe iterations at most for MGDA with > 2 tasks.",
                     lower_bound=1)

# Per-task gradients by a Python loop of tape.gradient calls over a persistent tape, or by
# tape.jacobian (pfor). benchmarks/grad_methods.py measures both: on the 2-core CPU the loop was
# 1.0-2.2x faster for T = 2..8 on shared_bottom (benchmarks/README.md), so the loop is kept.
JACOBIAN_MODE = "loop"


@tf.autograph.experimental.do_not_convert  # called while tracing; importlib has no source for autograph
def graded(name: str):
    """The selected implementation's graded module ``name``."""
    return impl.module(name)


def task_losses(outputs, tasks, labels, masks):
    """(losses [T], present [T] bool) from the model's outputs, via the graded masked means."""
    losses, present, _ = global_task_losses(outputs, tasks, labels, masks)
    return losses, present


def global_task_losses(outputs, tasks, labels, masks):
    """(losses [T], present [T] bool, local [T]): the per-task masked means over the GLOBAL batch.

    Under a ``tf.distribute`` strategy with R > 1 replicas each replica holds a slice of the
    global batch and the slices' per-task counts differ, so the mean of the replicas' means is
    not the global mean. Each replica's share is ``local_t = mean_t * n_t / N_t`` (n_t: its
    labelled examples of task t, N_t: the all-reduced count), and ``losses = all_reduce(local)``
    is the exact global mean (differentiable: the gradient of an all-reduce sum is the
    all-reduce sum of the upstream gradients). With one replica ``local is losses``.
    """
    per_example = tf.stack([t.loss(labels[t.name], outputs[t.name]) for t in tasks], axis=1)  # [B, T]
    mask = tf.stack([masks[t.name] for t in tasks], axis=1)                                  # [B, T]
    losses, present = graded("optimization").masked_task_losses(per_example, mask)
    replicas = num_replicas()
    if replicas == 1:
        return losses, present, losses
    ctx = tf.distribute.get_replica_context()
    counts = tf.reduce_sum(tf.cast(mask, losses.dtype), axis=0)                 # [T] n_t
    total_counts = ctx.all_reduce(tf.distribute.ReduceOp.SUM, counts)          # [T] N_t
    local = losses * counts / tf.maximum(total_counts, 1.0)
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, local), total_counts > 0, local


def num_replicas() -> int:
    """Replicas in sync in the current replica context (1 outside any strategy)."""
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def all_reduce_sum(value):
    """Sum of ``value`` over the replicas (``value`` itself with one replica)."""
    if num_replicas() == 1:
        return value
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def task_jacobian(tape, losses, sources, mode: Optional[str] = None):
    """[T, P] per-task gradients of ``losses`` [T] w.r.t. ``sources`` (variables or tensors), flattened.

    ``tape`` must be persistent and have recorded ``losses``. None gradients count as zeros.
    ``mode``: "loop" or "jacobian"; None reads ``JACOBIAN_MODE`` at trace time.
    """
    mode = mode or JACOBIAN_MODE
    flatten = graded("optimization").flatten_gradients
    num = losses.shape[0]
    if mode == "jacobian":
        jac = tape.jacobian(losses, sources, experimental_use_pfor=True)
        parts = [tf.zeros([num, _size(s)], losses.dtype) if j is None else tf.reshape(j, [num, -1])
                 for j, s in zip(jac, sources)]
        return tf.concat(parts, axis=1)
    if mode == "loop":
        # losses[i] taken outside the tape would not be recorded: select row i by output_gradients
        return tf.stack([flatten(tape.gradient(losses, sources, output_gradients=tf.one_hot(i, num)), sources)
                         for i in range(num)])
    raise ValueError(f"mode must be 'loop' or 'jacobian', got {mode!r}.")


def _size(source):
    shape = tf.shape(source) if isinstance(source, tf.Tensor) else source.shape
    return tf.reduce_prod(shape)


# The graded solvers (PCGrad's projection loop, MGDA's Frank-Wolfe, CAGrad's mirror descent) are
# loops of tiny ops: one op dispatch each costs more than the arithmetic. Compiled by XLA inside the
# step they ran 3-6x faster on CPU (benchmarks/README.md). False: run them as written.
COMPILE_SOLVERS = True
_SOLVERS: Dict[tuple, Callable] = {}


def compiled_solver(fn, sample: Callable, **kwargs) -> Callable:
    """``lambda *args: fn(*args, **kwargs)``, run by XLA when that works, else as written with a
    warning (an implementation XLA cannot compile still trains). Inside an XLA-compiled step
    (``--jit_compile``) it is ``fn`` as is.

    The first argument's leading dimension K (tasks present) is unknown at trace time and XLA
    compiles each K it meets. ``sample(k)`` (a tuple of arrays for K = k) probes K = 1, 2, 3: that
    XLA compiles ``fn`` (every branch, for every K) and keeps every input an input. A solver whose
    branches return different shapes, or that reads ``tf.shape`` in a way XLA cannot resolve, gets
    its input baked in as a constant, and XLA then recompiled it on every step (measured: 200 ms
    a step). Cached per (fn, COMPILE_SOLVERS, kwargs); the probe runs eagerly, also when called while
    tracing."""
    key = (fn, COMPILE_SOLVERS, tuple(sorted(kwargs.items())))
    if key in _SOLVERS:
        return _SOLVERS[key]

    def plain(*args):
        return fn(*args, **kwargs)
    solver = plain
    if COMPILE_SOLVERS:
        first_sample = sample(1)
        # every dimension unknown in the trace (K varies; the sample's sizes are not the real ones)
        specs = [tf.TensorSpec([None] * np.ndim(a), np.asarray(a).dtype) for a in first_sample]
        jit = tf.function(plain, jit_compile=True, input_signature=specs)
        try:
            for k in (1, 2, 3):
                with tf.init_scope():
                    hlo = jit.experimental_get_compiler_ir(*sample(k))(stage="hlo")
                entry = next(line for line in hlo.splitlines() if line.startswith("ENTRY"))
                if entry[entry.index("(") + 1:entry.index(")")].count(":") != len(first_sample):
                    raise ValueError(f"for K = {k} XLA takes the input as a constant and would recompile it every "
                                     "step; index with tf.gather(x, i), not x[i], for a tensor i")

            def solver(*args):
                return plain(*args) if _in_xla_context() else jit(*args)
        except NotImplementedError:   # an unfinished homework function: its own error, at the call
            pass
        except Exception as e:  # noqa: BLE001 -- any failure to compile means: run it as written
            logging.warning("%s runs without XLA, slower (%s)", getattr(fn, "__name__", fn), first_line(e))
    solver.compiled = solver is not plain
    _SOLVERS[key] = solver
    return solver


def _in_xla_context() -> bool:
    """Whether the function being traced is itself XLA-compiled (``tf.function(jit_compile=True)``)."""
    try:
        from tensorflow.python.ops import control_flow_util  # no public API for this
        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):   # a TensorFlow without it: nesting the compiled solver is still valid
        return False


_SAMPLE_ROWS = np.array([[1.0, 0.5, -0.2, 0.1], [-0.3, 1.0, 0.4, 0.0], [0.2, -0.6, 1.0, 0.3]], np.float32)


def _sample_rows(k):
    return (_SAMPLE_ROWS[:k],)


def _sample_gram(k):
    return (_SAMPLE_ROWS[:k] @ _SAMPLE_ROWS[:k].T,)


def _sample_rows_and_seed(k):
    return _SAMPLE_ROWS[:k], np.array([0, 1], np.int64)


def replicated_state(initial, name):
    """A non-trainable state variable that every replica updates with the same value (it is
    computed from all-reduced quantities), so under a strategy the first replica's write is kept."""
    return tf.Variable(initial, trainable=False, name=name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def nonfinite_rows(grads, present):
    """[T] bool: present tasks whose gradient row holds a NaN or an infinity."""
    return present & ~tf.reduce_all(tf.math.is_finite(grads), axis=1)


def gram_matrix(rows):
    """rows rows^T [T, T], up to one positive factor (which changes no method's weights).

    In float32 the squares of entries beyond ~1e16 overflow and those below ~1e-19 lose their
    digits, so rows whose largest entry is outside [1e-15, 1e15] are divided by it first; others
    (the usual case) go straight to einsum, which on CPU was ~3x faster than ``matmul(transpose_b)``
    for [20, 82k] rows (benchmarks/README.md)."""
    top = tf.reduce_max(tf.abs(rows))
    ordinary = (top > 1e-15) & (top < 1e15)
    scaled = tf.cond(ordinary | ~(top > 0), lambda: rows, lambda: rows / top)
    return tf.einsum("ip,jp->ij", scaled, scaled)


class GradientMethod(tf.Module):
    """Base: ``combine(grads [T, P], present [T]) -> (update [P], weights [T])``.

    Subclasses implement ``_combine(rows [K, P]) -> (update, weights [K])`` on present rows.
    ``uses_representation``: per-task gradients are taken w.r.t. the shared representation
    (``forward`` returns it) instead of the shared variables.
    """

    uses_representation = False

    def __init__(self, tasks, name=None):
        super().__init__(name=name)
        self.tasks = list(tasks)
        self._weights = replicated_state(tf.ones([len(self.tasks)]), "task_weights")

    def forward(self, model, features):
        """(outputs, representation or None) of a training-mode forward pass."""
        return model(features, training=True), None

    def combine(self, grads, present):
        """The method on the present tasks' rows; weights of absent tasks are 0.

        Absent tasks' rows never enter the arithmetic (whatever they hold, NaN included). A
        present row that is not finite gives a NaN update without running the method, so the
        step guard refuses the step (``nonfinite_rows`` names the tasks)."""
        ids = tf.cast(tf.where(present)[:, 0], tf.int32)
        num = len(self.tasks)
        usable = (tf.size(ids) > 0) & ~tf.reduce_any(nonfinite_rows(grads, present))
        update, weights = tf.cond(usable, lambda: self._combine_present(grads, ids),
                                  lambda: self._nothing(grads, tf.size(ids) > 0))
        self._weights.assign(weights)
        return update, weights

    def _nothing(self, grads, any_present):
        """No task (zero update) or a non-finite present row (NaN update); weights 0."""
        fill = tf.where(any_present, tf.constant(float("nan"), grads.dtype), tf.zeros([], grads.dtype))
        return tf.fill(tf.shape(grads[0]), fill), tf.zeros([len(self.tasks)], grads.dtype)

    def _combine_present(self, grads, ids):
        """(update [P], weights [T]) from all rows ``grads`` [T, P] and the present ids [K]."""
        update, w = self._combine(tf.gather(grads, ids))
        return update, tf.scatter_nd(ids[:, None], w, [len(self.tasks)])

    def _combine(self, rows):
        raise NotImplementedError

    def task_weights(self):
        """[T] weights of the last update's combination (for TensorBoard)."""
        return self._weights.read_value()


class PCGrad(GradientMethod):
    """PCGrad with a fresh stateless-random order per task and step: seed (run seed, call count)."""

    def __init__(self, tasks, seed: int = 0, name=None):
        super().__init__(tasks, name=name)
        self.seed = seed
        self.calls = replicated_state(tf.constant(0, tf.int64), "calls")

    def combine(self, grads, present):
        update, weights = super().combine(grads, present)
        # counted outside combine's tf.cond: under a strategy a replicated write is a synchronization point
        self.calls.assign_add(tf.cast(tf.reduce_any(present), tf.int64))
        return update, weights

    def _combine(self, rows):
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.calls.read_value()])
        pcgrad = compiled_solver(graded("gradients").pcgrad, _sample_rows_and_seed)
        return pcgrad(rows, seed)


class MGDA(GradientMethod):
    """MGDA: the graded Frank-Wolfe ``mgda_weights`` on the Gram matrix of the present rows, and
    update = sum_k weights_k rows_k (what the graded ``mgda`` returns).

    The Gram matrix is formed once from all T rows and the absent tasks are dropped from the
    [T, T] matrix instead of gathering the [K, P] rows; einsum, because on CPU it was ~3x faster
    than ``matmul(transpose_b=True)`` for [20, 82k] rows (benchmarks/README.md).
    """

    def __init__(self, tasks, max_iterations: int = 250, name=None):
        super().__init__(tasks, name=name)
        self.max_iterations = max_iterations

    def _combine_present(self, grads, ids):
        present = tf.scatter_nd(ids[:, None], tf.ones_like(ids, tf.bool), [len(self.tasks)])
        rows = tf.where(present[:, None], grads, tf.zeros_like(grads))    # absent rows never enter
        gram = gram_matrix(rows)
        present_gram = tf.gather(tf.gather(gram, ids), ids, axis=1)
        solve = compiled_solver(graded("gradients").mgda_weights, _sample_gram,
                                max_iterations=self.max_iterations)
        w = solve(present_gram)
        weights = tf.scatter_nd(ids[:, None], w, [len(self.tasks)])
        return tf.linalg.matvec(rows, weights, transpose_a=True), weights


class MGDAUB(MGDA):
    """MGDA on the gradients w.r.t. the shared representation Z; the shared variables then get
    the trunk's backward pass of sum_i alpha_i d L_i / d Z.

    Each task's head reads its own copy of Z (``forward``), so ONE backward pass through the heads
    gives every row d L_i / d Z_i (task i's loss reads no other copy) together with the heads'
    own gradients, and ONE backward pass through the trunk gives the shared gradients: the same
    two halves of a single backward pass the plain sum makes, plus the min-norm solve.
    """

    uses_representation = True

    def __init__(self, tasks, model, max_iterations: int = 250, name=None):
        super().__init__(tasks, max_iterations, name=name)
        rep = shared_representation(model, tasks)
        outputs = model_outputs(model, tasks)
        # views of the model's own layers, kept out of checkpoint tracking (the model holds the variables)
        self._views = _Views(keras.Model(model.input, rep), {t.name: _head(rep, model, outputs[t.name])
                                                             for t in tasks})

    def forward(self, model, features):
        """(outputs {task: [B, ...]}, (Z [B, Z...], [copy of Z per task])) of a training-mode pass."""
        z = self._views.trunk(features, training=True)
        copies = [tf.identity(z) for _ in self.tasks]
        outputs = {t.name: self._views.heads[t.name](c, features) for t, c in zip(self.tasks, copies)}
        return outputs, (z, copies)


class _Views:
    """Plain holder (not tracked by tf.Module): the trunk model features -> Z and one head per task."""

    def __init__(self, trunk, heads):
        self.trunk, self.heads = trunk, heads


def _head(rep, model, output):
    """Callable (z, features) -> the task's output, computed from ``z`` in place of Z."""
    try:   # the usual head reads Z only
        head = keras.Model(rep, output)
        return lambda z, features: head(z, training=True)
    except ValueError:   # it also reads model inputs (e.g. a position tower)
        head = keras.Model([rep, model.input], output)
        return lambda z, features: head([z, features], training=True)


class CAGrad(GradientMethod):
    def __init__(self, tasks, c: float = 0.5, name=None):
        super().__init__(tasks, name=name)
        self.c = c

    def _combine(self, rows):
        return compiled_solver(graded("gradients").cagrad, _sample_rows, c=self.c)(rows)


class IMTL(GradientMethod):
    def _combine(self, rows):
        return graded("gradients").imtl_g(rows)


GRAD_METHODS: Dict[str, Optional[type]] = {"none": None, "pcgrad": PCGrad, "mgda": MGDA, "mgda_ub": MGDAUB,
                                           "cagrad": CAGrad, "imtl": IMTL}

flags.DEFINE_enum("grad_method", "none", list(GRAD_METHODS),
                  "How per-task gradients of the shared variables become one update: none (back-propagate "
                  "the objective), pcgrad, mgda (min-norm, Frank-Wolfe), mgda_ub (MGDA on the shared "
                  "representation), cagrad, imtl (IMTL-G).")


def make_grad_method(name: str, model, tasks, objective, flag_values=None, seed: int = 0):
    """The ``--grad_method`` called ``name`` (None for "none"); ValueError, one line, if it cannot
    work with ``objective`` or ``model``."""
    if name not in GRAD_METHODS:
        raise ValueError(f"Unknown grad_method {name!r}; choose one of {sorted(GRAD_METHODS)}.")
    if name == "none":
        return None
    if not getattr(objective, "combines_with_gradient_methods", True):
        raise ValueError(f"--objective={objective.flag_name} cannot be combined with --grad_method={name}: "
                         f"{objective.why_not_combinable}; use --grad_method=none.")
    if not split_variables(model, tasks)[0]:
        raise ValueError(f"--grad_method={name} combines the tasks' gradients of the SHARED variables, and model "
                         f"{model.name!r} has none (every variable belongs to one task); use --grad_method=none.")
    fv = flag_values if flag_values is not None else flags.FLAGS
    if name == "pcgrad":
        return PCGrad(tasks, seed=seed)
    if name == "mgda":
        return MGDA(tasks, fv.mgda_max_iterations)
    if name == "mgda_ub":
        return MGDAUB(tasks, model, fv.mgda_max_iterations)
    if name == "cagrad":
        return CAGrad(tasks, fv.cagrad_c)
    return IMTL(tasks)


def shared_representation(model, tasks):
    """The shared representation Z for MGDA-UB: the output of the shared layer closest to the
    outputs (latest in ``model.layers``) such that every task output depends on Z and reaches no
    shared trainable layer except through Z. ValueError (one line) if the model has none."""
    names = [t.name for t in tasks]
    outputs = model_outputs(model, tasks)
    for layer in reversed(model.layers):
        if not layer.trainable_weights or _owner(layer, names) is not None or len(layer._inbound_nodes) != 1:
            continue
        z = layer.output
        if all(_only_through(outputs[n], z, names) for n in names):
            return z
    raise ValueError(f"--grad_method=mgda_ub needs one shared representation that every task's output reads "
                     f"and that all shared weights feed; model {model.name!r} has none (use --grad_method=mgda).")


def model_outputs(model, tasks) -> dict:
    """{task name: the model's symbolic output for it}."""
    if isinstance(model.output, dict):
        return dict(model.output)
    return dict(zip([t.name for t in tasks], model.outputs))


def _owner(layer, task_names):
    return variable_owner(layer.trainable_weights[0], task_names) if layer.trainable_weights else None


def _only_through(output, z, task_names) -> bool:
    """Whether ``output`` depends on ``z`` and on shared trainable layers only through ``z``."""
    stack, seen, found = [output], set(), False
    while stack:
        t = stack.pop()
        if t is z:
            found = True
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        op, node_index, _ = t._keras_history
        if op.trainable_weights and _owner(op, task_names) is None:
            return False
        stack.extend(op._inbound_nodes[node_index].input_tensors)
    return found


def gradient_step(model, optimizer, objective, method: Optional[GradientMethod], tasks, batch):
    """One step with a gradient method (or, ``method=None``, plain back-propagation of the
    objective); returns the same dict as ``optimization.train_step``.

    Works in any ``tf.distribute`` replica context: the objective sees the global per-task losses
    (``global_task_losses``); per-task gradient rows are all-reduced BEFORE the method combines
    them, so every replica computes the same update; the optimizer sums the replicas' gradients,
    so each replica hands it 1/R of every replicated quantity.
    """
    features, labels, masks = batch
    replicas = num_replicas()
    shared, own = split_variables(model, tasks)
    with tf.GradientTape(persistent=method is not None) as tape:
        if method is None:
            outputs, rep = model(features, training=True), None
        else:
            outputs, rep = method.forward(model, features)
        losses, present, local = global_task_losses(outputs, tasks, labels, masks)
        total = objective(losses, present)
        regularization = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
        total = total + regularization
        # what this replica hands the optimizer, which sums over replicas (computed in the tape)
        replica_total = total / replicas if replicas > 1 else total
        replica_regularization = regularization / replicas if replicas > 1 else regularization
    out = {"loss": total, "task_losses": losses, "present": present}
    if method is None:
        variables = list(model.trainable_variables) + list(objective.trainable_variables)
        grads = tape.gradient(replica_total, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return out
    rest = [v for n in own for v in own[n]] + list(objective.trainable_variables)
    if method.uses_representation:
        # one backward pass through the heads: row i = d total / d Z_i = (d objective / d L_i) d L_i / d Z
        # (each head reads its own copy Z_i of Z), and the heads' and objective's own gradients
        z, copies = rep
        grads = tape.gradient(replica_total, copies + rest)
        rows = tf.stack([tf.zeros([tf.size(z)], z.dtype) if g is None else tf.reshape(g, [-1])
                         for g in grads[:len(copies)]])
        update, _ = method.combine(rows, present)
        out["nonfinite_rows"] = nonfinite_rows(rows, present)
        # then one through the trunk, from the combined row sum_i alpha_i row_i
        grads_shared = tape.gradient(z, shared, output_gradients=tf.reshape(update, tf.shape(z)))
        shared_grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads_shared, shared)]
        rest_grads = grads[len(copies):]
    else:
        scale = tape.gradient(total, losses)
        scale = tf.zeros_like(losses) if scale is None else scale   # d objective / d L_i
        rows = all_reduce_sum(task_jacobian(tape, local, shared)) * scale[:, None]
        update, _ = method.combine(rows, present)
        out["nonfinite_rows"] = nonfinite_rows(rows, present)
        shared_grads = graded("optimization").unflatten_gradients(update / replicas if replicas > 1 else update, shared)
        rest_grads = None
    if model.losses:
        reg = tape.gradient(replica_regularization, shared)
        shared_grads = [g if r is None else g + r for g, r in zip(shared_grads, reg)]
    if rest_grads is None:
        rest_grads = tape.gradient(replica_total, rest)
    del tape
    pairs = list(zip(shared_grads, shared)) + [(g, v) for g, v in zip(rest_grads, rest) if g is not None]
    optimizer.apply_gradients(pairs)
    return out
