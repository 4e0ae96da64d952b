"""Transfer learning in the framework: target-task data, loading a pre-trained run, fine-tuning.

Options (``OPTIONS``; the apps' flags of the same names, read by mtl-train and by ``mtl-transfer``):

* ``--target_task=NAME``: the task to transfer to; ``--target_examples=N`` keeps only N of its
  training labels (masks off the rest; validation and test are untouched);
* ``--exclude_target``: drop the target task (pre-training on the related tasks only);
* ``--init_from=RUN_DIR``: fine-tune from RUN_DIR/checkpoints (written by mtl-train). The source
  model is rebuilt from the current architecture flags (``--model``, ``--hidden_units``, ...) for
  the dataset's tasks other than the target, the checkpoint restored into it (a mismatch is one
  line naming the variable and both shapes), its trunk kept and a new head attached for the
  target (the graded ``transfer.reuse_trunk``); only the target task is then trained;
* ``--finetune=head|full|gradual``, ``--finetune_head_steps`` (gradual: head-only steps first),
  ``--trunk_lr_scale`` (the trunk's Adam learning rate is ``--learning_rate`` times this).

Each fine-tuning phase (graded ``transfer.finetune_phases``) is its own ``Trainer`` (a freeze
changes ``model.trainable_variables``, so the step is traced anew: one trace per phase), with a
``TwoRateAdam`` optimizer: one Keras Adam for the trunk, one for the head.
"""

import os
import re
from typing import List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.data.base import MultiTaskData, Split
from mtl_tf.errors import TransferError  # noqa: F401  (re-exported: mtl_tf.transfer.TransferError)
from mtl_tf.options import resolve



_SHAPE_ERROR = re.compile(r"incompatible tensor with shape (?P<ckpt>\([^)]*\)) when attempting to restore "
                          r"variable with shape (?P<model>\([^)]*\)) and name (?P<name>[^\s:]+)")


FINETUNE_MODES = ("head", "full", "gradual")
# The options ``prepare``, ``pretrained_model`` and ``finetune`` read (keywords, or attributes of ``values``:
# the apps' parsed flags), with their defaults; ``seed`` chooses the kept target labels.
OPTIONS = {"target_task": None, "target_examples": 0, "exclude_target": False, "init_from": None,
           "finetune": "full", "finetune_head_steps": 200, "trunk_lr_scale": 0.1, "seed": 0}


def _options(values, options) -> "object":
    return resolve(OPTIONS, values, options, "transfer option")


def _graded():
    return impl.module("transfer")


# ---- target-task data ------------------------------------------------------------------------

def find_task(data: MultiTaskData, name: str):
    for t in data.tasks:
        if t.name == name:
            return t
    raise TransferError(f"--target_task={name!r} is not a task of dataset {data.name!r} "
                        f"(tasks: {', '.join(data.task_names)}).")


def limit_labels(data: MultiTaskData, task_name: str, n: int, seed: int) -> MultiTaskData:
    """``data`` with only ``n`` of ``task_name``'s training labels kept (chosen by ``seed``).

    The other training labels of that task are masked off; validation and test are untouched,
    so every method is judged on the same examples. Raises TransferError if the task has fewer
    than ``n`` training labels.
    """
    find_task(data, task_name)
    mask = data.train.masks[task_name]
    have = np.flatnonzero(mask > 0)
    if n > have.size:
        raise TransferError(f"{n} training labels of task {task_name!r} asked for (--target_examples / "
                            f"--transfer_sizes), but it has only {have.size}.")
    keep = np.random.default_rng(seed).choice(have, size=n, replace=False)
    new_mask = np.zeros_like(mask)
    new_mask[keep] = 1
    train = Split(data.train.features, data.train.labels, {**data.train.masks, task_name: new_mask},
                  data.train.extras)
    return MultiTaskData(data.name, data.tasks, train, data.validation, data.test,
                         f"{data.description}; {task_name}: {n} training labels")


def select_tasks(data: MultiTaskData, names) -> MultiTaskData:
    """``data`` restricted to the tasks ``names`` (in the dataset's order); training examples that
    carry none of their labels are dropped."""
    names = [t.name for t in data.tasks if t.name in set(names)]
    tasks = [t for t in data.tasks if t.name in names]

    def keep(split: Split, drop_unlabelled: bool) -> Split:
        sub = Split(split.features, {n: split.labels[n] for n in names}, {n: split.masks[n] for n in names},
                    split.extras)
        if not drop_unlabelled:
            return sub
        return sub.take(np.flatnonzero(np.sum([sub.masks[n] for n in names], axis=0) > 0))

    return MultiTaskData(data.name, tasks, keep(data.train, True), keep(data.validation, False),
                         keep(data.test, False), data.description)


def prepare(data: MultiTaskData, values=None, **options) -> Tuple[MultiTaskData, list]:
    """Apply the transfer data flags; returns (the data to train on, the source tasks).

    The source tasks (every task but the target) are what a pre-trained model was trained on.
    Without ``--target_task`` the data is returned as is (and the source tasks are all tasks).
    ``options``: those of ``OPTIONS`` (else ``values``'s attributes).
    """
    fv = _options(values, options)
    if not fv.target_task:
        if fv.target_examples or fv.exclude_target or fv.init_from:
            raise TransferError("--target_examples, --exclude_target and --init_from need --target_task.")
        return data, list(data.tasks)
    target = find_task(data, fv.target_task)
    if fv.exclude_target and fv.init_from:
        raise TransferError("--exclude_target (pre-training) and --init_from (fine-tuning) exclude each other.")
    source = [t for t in data.tasks if t.name != target.name]
    if fv.target_examples:
        data = limit_labels(data, target.name, fv.target_examples, fv.seed)
    if fv.exclude_target:
        if not source:
            raise TransferError(f"--exclude_target leaves no task to train on in dataset {data.name!r}.")
        return select_tasks(data, [t.name for t in source]), source
    if fv.init_from:
        return select_tasks(data, [target.name]), source
    return data, source


# ---- the pre-trained model -------------------------------------------------------------------

def latest_checkpoint(run_dir: str) -> str:
    """The newest checkpoint prefix of an mtl-train run dir; TransferError when there is none."""
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if path is None:
        raise TransferError(f"--init_from={run_dir}: no checkpoint in {os.path.join(run_dir, 'checkpoints')} "
                            "(train there first with mtl-train --run_dir=...).")
    return path


# Flags that decide the variables a builder creates (checked against the pre-training run's flags.txt).
ARCHITECTURE_FLAGS = ("model", "hidden_units", "tower_units", "backbone", "conv_filters", "task_descriptor",
                      "descriptor_dim", "num_experts", "num_task_experts", "num_levels", "expert_units",
                      "num_subspaces")


def _flag_text(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def check_architecture_flags(run_dir: str, fv) -> None:
    """TransferError naming the first architecture flag whose value differs from the pre-training
    run's ``flags.txt`` (a checkpoint restores by position, so a different builder whose variables
    happen to have the same shapes would otherwise load silently). No flags.txt: nothing to check."""
    path = os.path.join(run_dir, "flags.txt")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = dict(line.strip()[2:].split("=", 1) for line in f if line.startswith("--") and "=" in line)
    for name in ARCHITECTURE_FLAGS:
        if name in saved and hasattr(fv, name) and _flag_text(getattr(fv, name)) != saved[name]:
            raise TransferError(f"--init_from={run_dir}: --{name}={_flag_text(getattr(fv, name))} but the "
                                f"pre-training run used --{name}={saved[name]} (see {path}); the checkpoint only "
                                "loads into the same architecture.")


def restore_model(model: keras.Model, run_dir: str, fv=None) -> str:
    """Restore ``model``'s variables from ``run_dir``'s latest checkpoint; returns its path.

    Raises TransferError (one line) when the checkpoint was written by a different architecture:
    an architecture flag (``fv``) that differs from the run's flags.txt, a variable whose shape
    differs (named, with both shapes), or variables of the model that the checkpoint does not have.
    """
    path = latest_checkpoint(run_dir)
    if fv is not None:
        check_architecture_flags(run_dir, fv)
    hint = (f"Use the pre-training run's architecture flags (see {os.path.join(run_dir, 'flags.txt')}).")
    where = f"--init_from={run_dir}: the checkpoint does not fit the model built from the current flags ({model.name})"
    checkpoint, problem = tf.train.Checkpoint(model=model), None
    try:
        status = checkpoint.restore(path)
    except ValueError as e:  # TF names the variable and both shapes
        problem = " ".join(str(e).split())
        m = _SHAPE_ERROR.search(problem)
        if m:
            problem = (f"variable {m.group('name')} has shape {m.group('model')} in the model but "
                       f"{m.group('ckpt')} in the checkpoint.")
    if problem is not None:
        _forget_quietly(checkpoint)
        raise TransferError(f"{where}: {problem} {hint}")
    status.expect_partial()  # the optimizer, objective and step are not needed
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        unmatched = _unrestored(model, path)
        raise TransferError(f"{where}: the checkpoint has no values for {len(unmatched)} of its variable(s): "
                            f"{', '.join(unmatched[:6])}{' ...' if len(unmatched) > 6 else ''}. {hint}") from None
    return path


def _forget_quietly(checkpoint) -> None:
    """Silence TF's "unrestored values" warnings (one line per variable, printed when the failed
    restore is garbage collected, often at exit, after our one-line error). The restore coordinator
    is not reachable from the failed call, so every pending one is marked partial (TF private API:
    skipped if it changes)."""
    import gc
    del checkpoint
    for obj in gc.get_objects():
        if type(obj).__name__ == "_CheckpointRestoreCoordinatorDeleter" and hasattr(obj, "set_expect_partial"):
            obj.set_expect_partial(True)


def _unrestored(model, path) -> List[str]:
    """Paths of ``model``'s variables that a fresh restore of ``path`` leaves untouched."""
    before = [np.array(v.numpy(), copy=True) for v in model.variables]
    for v in model.variables:
        v.assign(np.full(v.shape, np.nan, v.dtype) if np.issubdtype(np.dtype(v.dtype), np.floating)
                 else np.zeros(v.shape, v.dtype))
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    missing = [v.path for v in model.variables if np.all(np.isnan(v.numpy()))
               and np.issubdtype(np.dtype(v.dtype), np.floating)]
    for v, value in zip(model.variables, before):
        v.assign(value)
    return missing or [v.path for v in model.variables]


def pretrained_model(fv, data: MultiTaskData, source_tasks, run_dir: Optional[str] = None) -> keras.Model:
    """The fine-tuning model: the source model (current architecture flags, ``source_tasks``)
    restored from ``run_dir`` (default ``--init_from``), its trunk kept, a new head for
    ``--target_task`` (graded ``reuse_trunk``, tower ``--tower_units``).

    ``data`` is the prepared target data (only the target task). ``fv``: an object with the
    attributes ``model``, the builder options (``mtl_tf.models.OPTIONS``), ``target_task`` and
    ``init_from`` (the apps pass their parsed flags).
    """
    from mtl_tf.ranking import build_model
    source = build_model(fv.model, data.input_shape, source_tasks, fv)
    restore_model(source, run_dir or fv.init_from, fv)
    target = find_task(data, fv.target_task)
    try:
        return _graded().reuse_trunk(source, source_tasks, target, tower_units=[int(u) for u in fv.tower_units])
    except ValueError as e:
        raise TransferError(f"--init_from: {e}") from None


# ---- the optimizer and the fine-tuning phases ------------------------------------------------

class TwoRateAdam(tf.Module):
    """Adam with a smaller learning rate on the trunk: one Keras Adam per variable group.

    The graded ``split_gradients(grads_and_vars, tasks)`` decides which pairs go to the trunk's
    Adam (``learning_rate * trunk_lr_scale``) and which to the head's (``learning_rate``).
    Checkpointable (a tf.Module tracking both Adams); exposes ``build`` and ``apply_gradients``
    like a Keras optimizer, and ``iterations`` (the head's step count).
    """

    def __init__(self, tasks, learning_rate: float, trunk_lr_scale: float, extra_variables=(), name=None):
        super().__init__(name=name)
        self.tasks = list(tasks)
        self._extra = {id(v) for v in extra_variables}  # e.g. the objective's: always the head's rate
        self.trunk = keras.optimizers.Adam(learning_rate=learning_rate * trunk_lr_scale, name="trunk_adam")
        self.head = keras.optimizers.Adam(learning_rate=learning_rate, name="head_adam")

    @property
    def iterations(self):
        return self.head.iterations

    def _split(self, grads_and_vars):
        pairs = list(grads_and_vars)
        extra = [(g, v) for g, v in pairs if id(v) in self._extra and g is not None]
        trunk, head = _graded().split_gradients([(g, v) for g, v in pairs if id(v) not in self._extra], self.tasks)
        return trunk, head + extra

    @property
    def built(self) -> bool:
        return self.head.built

    def build(self, variables):
        trunk, head = self._split([(v, v) for v in variables])
        self.trunk.build([v for _, v in trunk])
        self.head.build([v for _, v in head])

    def apply_gradients(self, grads_and_vars):
        trunk, head = self._split(grads_and_vars)
        if trunk:
            self.trunk.apply_gradients(trunk)
        if head:
            self.head.apply_gradients(head)


def finetune(model, data, objective, config, values=None, grad_method=None, trainer_cls=None, **trainer_kwargs) -> dict:
    """Fine-tune ``model`` (from ``pretrained_model``) on ``data`` per ``--finetune``.

    Runs the graded ``finetune_phases(--finetune, config.steps, --finetune_head_steps)``, each as
    its own Trainer (frozen trunk: ``set_trunk_trainable``). The last phase writes to
    ``config.run_dir``; an earlier one to ``run_dir/phase_<i>_<name>``. Returns the last phase's
    results with ``"phases": [{"name", "steps", "trunk_trainable", "traces"}, ...]``.
    ``values``: an object with the attributes ``finetune``, ``finetune_head_steps``, ``trunk_lr_scale``
    (defaults: ``OPTIONS``). ``trainer_kwargs`` (e.g. ``strategy=``) go to every phase's Trainer.
    """
    fv = _options(values, {})
    import dataclasses
    from mtl_tf.training import Trainer
    trainer_cls = trainer_cls or Trainer
    graded = _graded()
    phases = graded.finetune_phases(fv.finetune, config.steps, fv.finetune_head_steps)
    results, done = None, []
    for i, (name, steps, trunk_trainable) in enumerate(phases):
        graded.set_trunk_trainable(model, data.tasks, trunk_trainable)
        last = i == len(phases) - 1
        run_dir = config.run_dir if last or not config.run_dir else os.path.join(config.run_dir, f"phase_{i}_{name}")
        phase_config = dataclasses.replace(config, steps=steps, run_dir=run_dir,
                                           eval_every=min(config.eval_every, steps) if config.eval_every else 0)
        strategy = trainer_kwargs.get("strategy") or tf.distribute.get_strategy()
        with strategy.scope():  # optimizer slots live where the model's variables do
            optimizer = TwoRateAdam(data.tasks, config.learning_rate, fv.trunk_lr_scale,
                                    extra_variables=objective.trainable_variables)
        trainer = trainer_cls(model, data, objective, phase_config, grad_method=grad_method, optimizer=optimizer,
                              **trainer_kwargs)
        results = trainer.fit()
        done.append({"name": name, "steps": steps, "trunk_trainable": trunk_trainable,
                     "traces": trainer.trace_count})
    graded.set_trunk_trainable(model, data.tasks, True)  # the saved model is whole again
    results["phases"] = done
    results["steps"] = config.steps
    return results
