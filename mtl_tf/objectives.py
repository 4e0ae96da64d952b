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
