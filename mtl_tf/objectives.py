"""Objective registry (``--objective``): stateful wrappers around the graded pure functions.

An objective is called as ``objective(losses [T], present [T] bool) -> scalar`` inside the
train step. The graded math lives in the implementation's ``objectives`` module as pure
functions of tensors; this module owns any state (trainable variables, loss history, GradNorm's
weights) as tf.Module variables, so the Trainer's checkpoint (``objective=``) saves it, and maps
each ``--objective`` name to its class -- the only place that does.

Each class declares its keyword options as ``options = {option name: constructor parameter}``
(the option names are the flags': ``--minmax_temperature`` -> ``MinMaxObjective(temperature=)``);
``make_objective(name, tasks, **options)`` passes them on, so no code repeats the names, and
``option_defaults()`` gives every option's default (the constructors' keyword defaults).
"""

from typing import Dict

import tensorflow as tf

from mtl_tf.impl import graded
from mtl_tf.losses import task_losses
from mtl_tf.models import split_variables
from mtl_tf.options import parameter_default, resolve


def _graded():
    return graded("objectives")


class Objective(tf.Module):
    """Base class. Subclasses implement ``__call__``; ``trainable_variables`` (from tf.Module)
    are learned together with the model; ``task_weights()`` reports weights for logging.

    ``check_model(model, tasks)`` is called by the Trainer before training (one-line ValueError if
    the objective cannot work with the model); ``before_step(model, tasks, batch)`` runs at the
    start of every compiled step (GradNorm updates its weights there). ``combines_with_gradient_methods`` is False for objectives that
    already set the gradient balance themselves."""

    flag_name = None
    options: Dict[str, str] = {}   # option name -> constructor parameter
    combines_with_gradient_methods = True
    why_not_combinable = ""

    def __init__(self, tasks, name=None):
        super().__init__(name=name)
        self.tasks = list(tasks)

    def __call__(self, losses, present):
        raise NotImplementedError

    def check_model(self, model, tasks):
        """Raise ValueError (one line) if this objective cannot train ``model``; the Trainer calls it."""
        return None

    def before_step(self, model, tasks, batch):
        """Hook run before the step's forward pass; nothing by default."""
        return None

    def task_weights(self):
        """[T] weights the objective puts on each task (its last call's, for TensorBoard); 1 by default.
        Stateless objectives create no variable, so they can be built inside a tf.function."""
        return tf.ones([len(self.tasks)], tf.float32)


class SumObjective(Objective):
    """sum_i L_i over the present tasks."""

    flag_name = "sum"

    def __call__(self, losses, present):
        return _graded().sum_objective(losses, present)


class WeightedObjective(Objective):
    """sum_i w_i L_i with fixed weights (``--task_weights``)."""

    flag_name = "weighted"
    options = {"task_weights": "weights"}

    def __init__(self, tasks, weights=(), name=None):
        super().__init__(tasks, name=name)
        try:
            weights = [float(w) for w in weights]
        except ValueError:
            raise ValueError(f"--task_weights must be numbers, got {','.join(map(str, weights))}.") from None
        if len(weights) != len(self.tasks):
            raise ValueError(f"--task_weights has {len(weights)} value(s) but the data has {len(self.tasks)} tasks "
                             f"({', '.join(t.name for t in self.tasks)}); give one weight per task.")
        if any(w < 0 for w in weights):
            raise ValueError(f"--task_weights must be non-negative, got {list(weights)}.")
        self.weights = tf.constant(weights, tf.float32)

    def task_weights(self):
        return self.weights

    def __call__(self, losses, present):
        return _graded().weighted_objective(losses, present, self.weights)


class MinMaxObjective(Objective):
    """The worst present task's loss (hard max, or smooth with ``--minmax_temperature`` > 0)."""

    flag_name = "minmax"
    options = {"minmax_temperature": "temperature"}
    combines_with_gradient_methods = False
    why_not_combinable = "min-max trains only the worst task each step, so the other tasks' gradients are zero"

    def __init__(self, tasks, temperature: float = 0.0, name=None):
        super().__init__(tasks, name=name)
        self.temperature = float(temperature)
        self._last = tf.Variable(tf.ones([len(self.tasks)]), trainable=False, name="last_weights")

    def __call__(self, losses, present):
        value = _graded().minmax_objective(losses, present, self.temperature)
        self._last.assign(self._effective_weights(losses, present))
        return value

    def task_weights(self):
        return self._last.read_value()

    def _effective_weights(self, losses, present):
        if self.temperature > 0:
            scores = tf.where(present, losses / self.temperature, -1e30)
            return tf.where(present, tf.nn.softmax(scores), 0.0)
        worst = tf.argmax(tf.where(present, losses, -1e30))
        return tf.one_hot(worst, len(self.tasks))


class UncertaintyObjective(Objective):
    """Kendall et al. 2018: s_t = log sigma_t^2 learned with the model, initialised to 0."""

    flag_name = "uncertainty"

    def __init__(self, tasks, name=None):
        super().__init__(tasks, name=name)
        self.log_variances = tf.Variable(tf.zeros([len(self.tasks)]), name="log_variances")
        self.is_regression = tf.constant([t.kind == "regression" for t in self.tasks])

    def task_weights(self):
        """The factor on each L_t: 0.5 exp(-s_t) (regression) or exp(-s_t)."""
        return tf.where(self.is_regression, 0.5, 1.0) * tf.exp(-self.log_variances)

    def __call__(self, losses, present):
        return _graded().uncertainty_objective(losses, present, self.log_variances, self.is_regression)


class DWAObjective(Objective):
    """Dynamic weight average (Liu et al. 2019) over "epochs" of ``epoch_steps`` steps.

    State: the running sum and count of each task's loss in the current epoch, the averages of
    the last two epochs and how many epochs are done. Weights are 1 until two epochs are done.
    Each call uses the weights from the history so far, then records this step's losses.
    """

    flag_name = "dwa"
    options = {"dwa_temperature": "temperature", "dwa_epoch_steps": "epoch_steps"}

    def __init__(self, tasks, temperature: float = 2.0, epoch_steps: int = 100, name=None):
        super().__init__(tasks, name=name)
        n = len(self.tasks)
        self.temperature, self.epoch_steps = float(temperature), int(epoch_steps)
        self.running = tf.Variable(tf.zeros([n]), trainable=False, name="running")
        self.counts = tf.Variable(tf.zeros([n]), trainable=False, name="counts")
        self.previous = tf.Variable(tf.ones([n]), trainable=False, name="previous")
        self.before_previous = tf.Variable(tf.ones([n]), trainable=False, name="before_previous")
        self.epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps")
        self._last = tf.Variable(tf.ones([n]), trainable=False, name="last_weights")

    def task_weights(self):
        return self._last.read_value()

    def current_weights(self):
        """[T] lambda for the next step: 1 until two epochs are done, then DWA's weights."""
        dwa = _graded().dwa_weights(self.previous, self.before_previous, self.temperature)
        return tf.where(self.epochs >= 2, dwa, tf.ones_like(dwa))

    def __call__(self, losses, present):
        weights = self.current_weights()
        self._last.assign(weights)
        value = _graded().weighted_objective(losses, present, weights)
        self._record(tf.stop_gradient(losses), present)
        return value

    def _record(self, losses, present):
        running = self.running + tf.where(present, losses, 0.0)
        counts = self.counts + tf.cast(present, tf.float32)
        steps = self.steps + 1
        roll = tf.equal(steps % self.epoch_steps, 0)
        mean = tf.where(counts > 0, running / tf.maximum(counts, 1.0), self.previous)
        self.before_previous.assign(tf.where(roll, self.previous, self.before_previous))
        self.previous.assign(tf.where(roll, mean, self.previous))
        self.running.assign(tf.where(roll, tf.zeros_like(running), running))
        self.counts.assign(tf.where(roll, tf.zeros_like(counts), counts))
        self.epochs.assign_add(tf.cast(roll, tf.int64))
        self.steps.assign(steps)


class GradNormObjective(Objective):
    """GradNorm (Chen et al. 2018): sum_i w_i L_i with w_i balanced by gradient norms.

    W = the kernel of the last shared layer: the last shared variable of rank >= 2 in
    ``model.trainable_variables`` order (functional models list layers from inputs to outputs).
    ``before_step`` does GradNorm's weight update with its own forward pass: ||grad_W L_i|| per
    task, L_grad (graded ``gradnorm_loss``), one gradient step of ``lr`` on w only, clip to
    positive, renormalise to sum T. L_i(0) is each task's loss the first step it is present.
    The model's objective treats w as constants.
    """

    flag_name = "gradnorm"
    options = {"gradnorm_alpha": "alpha", "gradnorm_lr": "lr"}
    combines_with_gradient_methods = False
    why_not_combinable = "GradNorm balances the task gradients itself through its weights"

    def __init__(self, tasks, alpha: float = 1.5, lr: float = 0.025, name=None):
        super().__init__(tasks, name=name)
        n = len(self.tasks)
        self.alpha, self.lr = float(alpha), float(lr)
        self.weights = tf.Variable(tf.ones([n]), trainable=False, name="weights")
        self.initial_losses = tf.Variable(tf.ones([n]), trainable=False, name="initial_losses")
        self.initialized = tf.Variable(tf.zeros([n], tf.bool), trainable=False, name="initialized")

    def __call__(self, losses, present):
        return _graded().weighted_objective(losses, present, tf.stop_gradient(self.weights))

    def task_weights(self):
        return self.weights.read_value()

    def check_model(self, model, tasks):
        last_shared_kernel(split_variables(model, tasks)[0])

    def before_step(self, model, tasks, batch):
        features, labels, masks = batch
        kernel = last_shared_kernel(split_variables(model, tasks)[0])
        with tf.GradientTape(persistent=True) as tape:
            losses, present, _ = task_losses(model(features, training=True), tasks, labels, masks)
        norms = tf.stack([_norm(tape.gradient(losses, kernel, output_gradients=tf.one_hot(i, len(tasks))))
                          for i in range(len(tasks))])
        del tape
        self.update(losses, present, norms)

    def update(self, losses, present, grad_norms):
        """GradNorm's weight update from this step's losses [T] and ||grad_W L_i|| [T]."""
        graded = _graded()
        losses = tf.stop_gradient(losses)
        first = present & ~self.initialized
        self.initial_losses.assign(tf.where(first, tf.maximum(losses, 1e-8), self.initial_losses))
        self.initialized.assign(self.initialized | present)
        with tf.GradientTape() as tape:
            tape.watch(self.weights)
            value = graded.gradnorm_loss(self.weights, grad_norms, losses, self.initial_losses, present,
                                         self.alpha)
        grad = tape.gradient(value, self.weights)
        stepped = tf.maximum(self.weights - self.lr * grad, 1e-3)
        self.weights.assign(graded.renormalize_weights(stepped))
        return value


def last_shared_kernel(shared_variables):
    """GradNorm's W: the last shared variable with rank >= 2 (a kernel), in model order."""
    kernels = [v for v in shared_variables if len(v.shape) >= 2]
    if not kernels:
        raise ValueError("--objective=gradnorm needs a shared layer with a kernel (W, its gradient norms are "
                         "balanced); this model has no shared kernel: use another --objective or --model.")
    return kernels[-1]


def _norm(grad):
    return tf.constant(0.0) if grad is None else tf.norm(grad)


OBJECTIVES: Dict[str, type] = {c.flag_name: c for c in (SumObjective, WeightedObjective, MinMaxObjective,
                                                          UncertaintyObjective, DWAObjective, GradNormObjective)}


# ---- loss weightings of the method zoo (framework only, not graded; issue 18) ------------------------------

from mtl_tf.replicas import replicated_state  # noqa: E402


def _present_count(present):
    return tf.reduce_sum(tf.cast(present, tf.float32))


class LogObjective(Objective):
    """sum_i log(L_i + 1e-8) over the present tasks: every task's loss on one (log) scale, so row i
    is grad L_i / (L_i + 1e-8). The loss-scale half of DB-MTL (Lin et al. 2023; LibMTL ``DB_MTL``'s
    ``log(losses + 1e-8)``): DB-MTL is ``--objective=log --grad_method=db_mtl``."""

    flag_name = "log"
    eps = 1e-8

    def __init__(self, tasks, name=None):
        super().__init__(tasks, name=name)
        self._last = replicated_state(tf.ones([len(self.tasks)]), "last_weights")

    def __call__(self, losses, present):
        self._last.assign(tf.where(present, 1.0 / (tf.stop_gradient(losses) + self.eps), 0.0))
        return tf.reduce_sum(tf.where(present, tf.math.log(losses + self.eps), 0.0))

    def task_weights(self):
        return self._last.read_value()


class GLSObjective(Objective):
    """Geometric loss strategy (Chennupati et al. 2019, MultiNet++; LibMTL ``GLS``): the geometric
    mean (prod_i L_i)^(1/K) of the K present losses, computed as exp(mean_i log L_i) (no under- or
    overflow of the product at large K). d/dL_i = GLS / (K L_i). Options: none. A loss of exactly 0
    gives a NaN gradient (0 * inf), as the reference's pow(prod, 1/T) does."""

    flag_name = "gls"

    def __init__(self, tasks, name=None):
        super().__init__(tasks, name=name)
        self._last = replicated_state(tf.ones([len(self.tasks)]), "last_weights")

    def __call__(self, losses, present):
        k = _present_count(present)
        logs = tf.where(present, tf.math.log(tf.where(present, losses, 1.0)), 0.0)
        value = tf.where(k > 0, tf.exp(tf.reduce_sum(logs) / tf.maximum(k, 1.0)), 0.0)
        fixed = tf.stop_gradient(value)
        self._last.assign(tf.where(present, fixed / (tf.maximum(k, 1.0) * tf.stop_gradient(losses)), 0.0))
        return value

    def task_weights(self):
        return self._last.read_value()


class STCHObjective(Objective):
    """Smooth Tchebycheff scalarization (Lin et al. 2024, ICML; LibMTL / official ``STCH``).

    Steps are grouped in "epochs" of ``stch_epoch_steps``. For the first ``stch_warmup_epochs`` + 1
    epochs: sum_i log(L_i + 1e-20); during the last of them each task's mean loss is recorded as its
    nadir point z_i (a task never present then keeps z_i = 1). Afterwards, with l_i =
    log(L_i / z_i + 1e-20) over the K present tasks: K mu logsumexp(l / mu).
    Options: ``stch_mu`` (1.0), ``stch_warmup_epochs`` (4), ``stch_epoch_steps`` (100); LibMTL's
    ``STCH_mu`` / ``STCH_warmup_epoch`` (its epochs are data passes). LibMTL's value drops the
    logsumexp's max term (a constant: the same gradient); this is the logsumexp itself."""

    flag_name = "stch"
    options = {"stch_mu": "mu", "stch_warmup_epochs": "warmup_epochs", "stch_epoch_steps": "epoch_steps"}

    def __init__(self, tasks, mu: float = 1.0, warmup_epochs: int = 4, epoch_steps: int = 100, name=None):
        super().__init__(tasks, name=name)
        if mu <= 0 or warmup_epochs < 0 or epoch_steps < 1:
            raise ValueError(f"--objective=stch needs stch_mu > 0, stch_warmup_epochs >= 0 and stch_epoch_steps >= 1, "
                             f"got {mu}, {warmup_epochs}, {epoch_steps}.")
        n = len(self.tasks)
        self.mu, self.warmup_epochs, self.epoch_steps = float(mu), int(warmup_epochs), int(epoch_steps)
        self.steps = replicated_state(tf.constant(0, tf.int64), "steps")
        self.nadir_sum = replicated_state(tf.zeros([n]), "nadir_sum")
        self.nadir_count = replicated_state(tf.zeros([n]), "nadir_count")
        self._last = replicated_state(tf.ones([n]), "last_weights")

    def nadir(self):
        """[T] z: the mean losses recorded during the last warm-up epoch (1 where none was)."""
        return tf.where(self.nadir_count > 0, self.nadir_sum / tf.maximum(self.nadir_count, 1.0), 1.0)

    def __call__(self, losses, present):
        step = self.steps.read_value()
        recording = (step >= self.warmup_epochs * self.epoch_steps) & (step < (self.warmup_epochs + 1) * self.epoch_steps)
        smooth = step >= (self.warmup_epochs + 1) * self.epoch_steps
        fixed = tf.stop_gradient(losses)
        nadir = self.nadir()
        k = _present_count(present)

        def warm():
            value = tf.reduce_sum(tf.where(present, tf.math.log(tf.where(present, losses, 1.0) + 1e-20), 0.0))
            return value, tf.where(present, 1.0 / (fixed + 1e-20), 0.0)

        def tchebycheff():
            scaled = tf.math.log(tf.where(present, losses, 1.0) / nadir + 1e-20) / self.mu
            scaled = tf.where(present, scaled, -float("inf"))
            value = tf.where(k > 0, k * self.mu * tf.reduce_logsumexp(scaled), 0.0)
            soft = tf.where(present, tf.nn.softmax(tf.where(present, tf.stop_gradient(scaled), -1e30)), 0.0)
            return value, k * soft / (fixed + 1e-20 * nadir)

        value, weights = tf.cond(smooth, tchebycheff, warm)
        self._last.assign(weights)
        self.nadir_sum.assign(tf.where(recording & present, self.nadir_sum + fixed, self.nadir_sum))
        self.nadir_count.assign(tf.where(recording & present, self.nadir_count + 1.0, self.nadir_count))
        self.steps.assign_add(1)
        return value

    def task_weights(self):
        return self._last.read_value()


class FAMOObjective(Objective):
    """Fast Adaptive Multitask Optimization (Liu et al. 2023, NeurIPS; official / LibMTL ``FAMO``).

    Logits xi (0 at first), z = softmax(xi) over the present tasks, D_i = L_i + 1e-8 (the minimum
    losses are 0, as in the reference code), c = sum_i z_i / D_i (a constant):
    value = sum_i (z_i / c) log D_i, so d/dL_i = z_i / (c D_i), summing to 1. Each step first
    updates xi from the previous step: delta_i = log D_i(previous step) - log D_i(this step),
    d = J_softmax(xi)^T delta, and one Adam step (lr ``famo_w_lr``, betas 0.9/0.999, eps 1e-8) on
    d + ``famo_w_gamma`` xi (torch's Adam weight decay), on the tasks present at both steps only
    (their own Adam step counts; in joint mode every task, every step).
    Options: ``famo_w_lr`` (0.025), ``famo_w_gamma`` (1e-3), LibMTL's.

    Deviation: the reference code measures delta with a second forward pass after the optimizer
    step, on the same batch (L(theta_t+1; b_t)); here the "after" losses are the next step's,
    L(theta_t+1; b_t+1) -- no extra forward pass, and the step applies nothing itself (the Trainer
    does), but delta carries the change of batch as noise."""

    flag_name = "famo"
    options = {"famo_w_lr": "w_lr", "famo_w_gamma": "w_gamma"}

    def __init__(self, tasks, w_lr: float = 0.025, w_gamma: float = 1e-3, name=None):
        super().__init__(tasks, name=name)
        if w_lr <= 0 or w_gamma < 0:
            raise ValueError(f"--objective=famo needs famo_w_lr > 0 and famo_w_gamma >= 0, got {w_lr}, {w_gamma}.")
        n = len(self.tasks)
        self.w_lr, self.w_gamma = float(w_lr), float(w_gamma)
        self.logits = replicated_state(tf.zeros([n]), "logits")
        self.adam_m = replicated_state(tf.zeros([n]), "adam_m")
        self.adam_v = replicated_state(tf.zeros([n]), "adam_v")
        self.adam_steps = replicated_state(tf.zeros([n]), "adam_steps")
        self.previous = replicated_state(tf.ones([n]), "previous_losses")
        self.previous_present = replicated_state(tf.zeros([n], tf.bool), "previous_present")
        self._last = replicated_state(tf.ones([n]) / n, "last_weights")

    @staticmethod
    def _softmax(logits, mask):
        return tf.where(mask, tf.nn.softmax(tf.where(mask, logits, -1e30)), 0.0)

    def update_logits(self, losses, present):
        """The Adam step on xi from the previous step's losses and ``losses`` (no gradient)."""
        both = present & self.previous_present
        xi = self.logits.read_value()
        delta = tf.where(both, tf.math.log(self.previous + 1e-8) - tf.math.log(tf.where(both, losses, 1.0) + 1e-8), 0.0)
        z = self._softmax(xi, both)
        d = z * delta - z * tf.reduce_sum(z * delta)             # J^T delta, J = diag(z) - z z^T
        g = d + self.w_gamma * xi
        n = self.adam_steps + tf.cast(both, tf.float32)
        m = tf.where(both, 0.9 * self.adam_m + 0.1 * g, self.adam_m)
        v = tf.where(both, 0.999 * self.adam_v + 0.001 * g * g, self.adam_v)
        safe_n = tf.maximum(n, 1.0)
        step = self.w_lr * (m / (1.0 - 0.9 ** safe_n)) / (tf.sqrt(v / (1.0 - 0.999 ** safe_n)) + 1e-8)
        self.logits.assign(tf.where(both, xi - step, xi))
        self.adam_m.assign(m)
        self.adam_v.assign(v)
        self.adam_steps.assign(n)

    def __call__(self, losses, present):
        fixed = tf.stop_gradient(losses)
        self.update_logits(fixed, present)
        z = self._softmax(self.logits.read_value(), present)
        d = tf.where(present, fixed + 1e-8, 1.0)
        c = tf.reduce_sum(tf.where(present, z / d, 0.0))
        c = tf.where(c > 0, c, 1.0)
        value = tf.reduce_sum(tf.where(present, z / c * tf.math.log(tf.where(present, losses, 1.0) + 1e-8), 0.0))
        self._last.assign(tf.where(present, z / (c * d), 0.0))
        self.previous.assign(tf.where(present, fixed, self.previous))
        self.previous_present.assign(present)
        return value

    def task_weights(self):
        return self._last.read_value()


OBJECTIVES.update({c.flag_name: c for c in (LogObjective, GLSObjective, STCHObjective, FAMOObjective)})


def option_defaults() -> dict:
    """{option name: default} of every objective's options (its constructor's keyword default)."""
    return {option: parameter_default(cls, parameter)
            for cls in OBJECTIVES.values() for option, parameter in cls.options.items()}


def make_objective(name: str, tasks, values=None, **options) -> Objective:
    """The objective called ``name`` for ``tasks``; ValueError (one line) on bad settings.

    ``options``: the class's ``options`` (e.g. ``make_objective("minmax", tasks, minmax_temperature=0.1)``);
    any not given is read from ``values``'s attributes, else the constructor's default."""
    if name not in OBJECTIVES:
        raise ValueError(f"Unknown objective {name!r}; choose one of {sorted(OBJECTIVES)}.")
    cls = OBJECTIVES[name]
    defaults = option_defaults()
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unknown objective option(s) {unknown}; the known ones are {sorted(defaults)}.")
    chosen = resolve({k: defaults[k] for k in cls.options}, values,
                     {k: v for k, v in options.items() if k in cls.options}, "objective option")
    return cls(tasks, **{parameter: getattr(chosen, option) for option, parameter in cls.options.items()})
