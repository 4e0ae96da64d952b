"""The Trainer: compiled task-sampled step, periodic evaluation, summaries, checkpoints, resume.

One loop serves every builder, objective, data mode and ``tf.distribute`` strategy: the step
(``mtl_tf.training.step.train_step``, the same on one device and under a strategy) turns a batch
into the per-task loss vector, hands it to the objective and the gradient method, and returns
(gradient, variable) pairs that the Trainer applies behind the non-finite guard. The trainer never
branches on a builder's or objective's name.

The host touches the step's results only every ``log_every`` steps: running loss sums and the
non-finite guard live in variables updated inside the step (``mtl_tf.training.guards``). On one
device, up to ``steps_per_call`` steps run in one compiled call (a ``tf.range`` loop with
``next(iterator)`` inside the graph, as Keras's ``steps_per_execution``); chunks end at every
log, evaluation and checkpoint step, so those happen at the same steps as with one step per call,
and the chunk length is a tensor argument (no retrace). Under a non-default strategy the loop runs
one step per call, fed from the host.
Checkpoints (every ``checkpoint_every`` steps, at each evaluation and at the end) hold the model,
optimizer, objective, gradient method, step, guard counters, the global RNG and the tf.data
iterator; ``fit`` resumes from the newest usable one in ``run_dir``.
"""

import dataclasses
import os
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from mtl_tf.data import joint_dataset, task_sampled_dataset
from mtl_tf.training import evaluation
from mtl_tf.training.checkpointing import restore_latest
from mtl_tf.training.distribute import check_distributable, is_default
from mtl_tf.training.evaluation import model_feature_keys
from mtl_tf.training.guards import StepGuard
from mtl_tf.training.progress import Progress
from mtl_tf.errors import TrainingError  # noqa: F401  (re-exported: mtl_tf.training.TrainingError)
from mtl_tf.training.step import train_step
from mtl_tf.training.conflict import gradient_conflict
from mtl_tf.training.selection import Selector
from mtl_tf.contract import check_contract
from mtl_tf.methods import make_method
from mtl_tf.objectives import make_objective


@dataclasses.dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 64             # examples per sampled task per step (GLOBAL: split across replicas)
    tasks_per_step: Optional[int] = None   # None: all tasks
    learning_rate: float = 1e-3
    seed: int = 0
    eval_every: int = 1000           # 0: evaluate only at the end (--eval_every's default too)
    log_every: int = 50
    data_mode: str = "task_sampled"  # or "joint"
    task_sampling: str = "uniform"   # or "proportional" (by labelled examples per task)
    run_dir: Optional[str] = None    # None: write nothing
    progress: bool = True
    checkpoint_every: int = 500      # also at each evaluation and at the end; 0: only those
    nan_policy: str = "stop"         # or "skip_step"
    jit_compile: bool = False        # XLA-compile the step (tf.function(jit_compile=True))
    steps_per_call: int = 50         # steps per compiled call (in-graph loop); cut at log/eval/checkpoint steps
    select_by: Optional[str] = None  # "<task>/<metric>" or "mean_<metric>": test metrics at the best validation step
    early_stopping_patience: int = 0  # with select_by: stop after this many evaluations without a new best (0: never)
    log_gradient_conflict: bool = False   # pairwise cosines / norms of the tasks' shared gradients every log_every


class Trainer:
    """Train ``model`` on ``data`` with an objective and, optionally, a gradient method.

    The Python API (typed arguments; no flags involved)::

        trainer = Trainer(model, data, objective="uncertainty", grad_method="pcgrad", steps=2000,
                          batch_size=64, learning_rate=1e-3, run_dir="runs/mine")
        results = trainer.fit()          # {"steps", "tasks": {task: {metric: value}}, ...}
        trainer.evaluate("test")

    * ``model``: a functional ``keras.Model`` that follows the model contract (inputs ``x`` and
      ``task``, one output per task, task-specific layers named ``"<task>.<rest>"``); it is
      checked first (``mtl_tf.contract``) and a clear ValueError says what is wrong.
    * ``data``: a ``MultiTaskData`` (``mtl_tf.data``: a registered source, or your own arrays,
      DataFrame or ``tf.data.Dataset``).
    * ``objective``: a name (``mtl_tf.objectives.OBJECTIVES``) or an ``Objective``;
      ``objective_options`` are its keyword options (e.g. ``{"task_weights": [1, 2]}`` for "weighted").
    * ``grad_method``: None / "none", a name (``mtl_tf.methods.METHODS``) or a ``GradientMethod``;
      ``method_options`` its options (e.g. ``{"c": 0.5}`` for "cagrad").
    * ``config``: a ``TrainConfig``, or its fields as keyword arguments (``steps=...``).
    * ``optimizer``: anything with ``apply_gradients(grads_and_vars)`` and ``build(variables)``
      (default: Adam at ``learning_rate``); it is checkpointed. ``strategy``: a
      ``tf.distribute.Strategy``; objects built from names are created under its scope (objects
      passed in must have been).

    After ``fit``: ``trace_count`` is the number of times the step was traced
    (exactly 1 for a healthy run), ``history`` holds validation metrics over time.
    """

    def __init__(self, model, data, objective="sum", config: Optional[TrainConfig] = None, grad_method=None,
                 optimizer=None, strategy=None, *, objective_options=None, method_options=None, **config_fields):
        if config is not None and config_fields:
            raise ValueError(f"pass either config or its fields, not both (got {sorted(config_fields)}).")
        if config is None:
            unknown = sorted(set(config_fields) - {f.name for f in dataclasses.fields(TrainConfig)})
            if unknown:
                raise ValueError(f"Trainer got unknown option(s) {unknown}; TrainConfig has "
                                 f"{[f.name for f in dataclasses.fields(TrainConfig)]}.")
            config = TrainConfig(**config_fields)
        self.strategy = strategy or tf.distribute.get_strategy()
        check_contract(model, data.tasks)
        with self.strategy.scope():
            if isinstance(objective, str):
                objective = make_objective(objective, data.tasks, **(objective_options or {}))
            if isinstance(grad_method, str):
                grad_method = make_method(grad_method, data.tasks, model=model, objective=objective, seed=config.seed,
                                          **(method_options or {}))
        self.model, self.data, self.objective, self.config = model, data, objective, config
        self.grad_method = grad_method
        objective.check_model(model, data.tasks)
        check_distributable(self.strategy, objective, grad_method)
        if config.jit_compile and not is_default(self.strategy):
            raise ValueError("--jit_compile is supported with --strategy=default only.")
        self.tasks = list(data.tasks)
        self.tasks_per_step = config.tasks_per_step or len(self.tasks)
        variables = list(model.trainable_variables) + list(objective.trainable_variables)
        with self.strategy.scope():
            if optimizer is None:
                optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
            if not getattr(optimizer, "built", False):
                optimizer.build(variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.guard = StepGuard(len(self.tasks), config.nan_policy)
            self.selector = Selector(config.select_by, model, self.tasks) if config.select_by else None
        if config.early_stopping_patience and not config.select_by:
            raise ValueError("--early_stopping_patience needs --select_by (which validation metric to watch).")
        self.optimizer = optimizer
        self._state = [v for v in objective.variables if not v.trainable] + \
            ([] if grad_method is None else list(grad_method.variables))
        self.trace_count = 0
        self.history = []
        self.resumed_from = 0    # the step fit() started from (0 unless it restored a checkpoint)
        self.restored = False
        if config.steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {config.steps_per_call}.")
        self._train_step = tf.function(self._step, jit_compile=config.jit_compile or None)
        # the loop itself is never XLA-compiled (IteratorGetNext is not an XLA op); its body calls the step
        self._train_steps = tf.function(self._steps)
        self.predict = evaluation.Predictor(model)
        self.conflict_log = []   # [{"step", "cosine" {a|b: value}, "norm" {task: value}}] of this fit()
        self._conflict = tf.function(lambda batch: gradient_conflict(model, self.tasks, batch))

    def _step(self, batch):
        self.trace_count += 1  # Python side effect: runs only while tracing
        if is_default(self.strategy):
            ok, pairs = self._replica_step(batch)
            tf.cond(ok, lambda: self._apply(pairs), lambda: tf.constant(False))
            return
        # > 1 replica: the optimizer's all-reduce (a synchronization point) may not sit in a tf.cond
        # inside the replica function; apply outside it, under one tf.cond on the step's verdict (the
        # same on every replica)
        variables = []   # of this trace: the variables that get a gradient, the same on every replica

        def replica(b):
            ok, pairs = self._replica_step(b)
            variables[:] = [v for _, v in pairs]
            return ok, [g for g, _ in pairs]
        ok, grads = self.strategy.run(replica, args=(batch,))
        tf.cond(self.strategy.experimental_local_results(ok)[0],
                lambda: self._apply_on_replicas(grads, variables), lambda: tf.constant(False))

    def _steps(self, iterator, n):
        """Up to ``n`` (int64 scalar tensor) steps on batches drawn in graph from ``iterator``;
        with ``--nan_policy=stop`` the loop ends right after a bad step (the host then stops)."""
        stop = self.config.nan_policy == "stop"
        for _ in tf.range(n):
            self._train_step(next(iterator))
            if stop and self.guard.bad_step != 0:
                break

    def _apply(self, pairs):
        self.optimizer.apply_gradients(pairs)
        return tf.constant(True)

    def _apply_on_replicas(self, grads, variables):
        self.strategy.run(lambda g: self.optimizer.apply_gradients(zip(g, variables)), args=(grads,))
        return tf.constant(True)

    def _replica_step(self, batch):
        """(verdict, pairs) of one step: ``step.train_step``, the guard's verdict and its record."""
        before = [v.read_value() for v in self._state]   # put back if the step is skipped
        self.objective.before_step(self.model, self.tasks, batch)
        out, pairs = train_step(self.model, self.objective, self.grad_method, self.tasks, batch)
        ok = self.guard.verdict(out, [g for g, _ in pairs])
        self.step.assign_add(1)
        self.guard.record(self.step, out, ok, before, self._state)
        return ok, pairs

    def dataset(self, first_step: int = 0) -> tf.data.Dataset:
        """GLOBAL batches (``batch_size`` x tasks per step examples) of the training stream, from
        batch ``first_step`` on (the task-sampled stream is a pure function of (seed, step))."""
        c = self.config
        keys = model_feature_keys(self.model)  # Keras 3 maps dict inputs by position: feed only the model's
        if c.data_mode == "joint":
            dataset = joint_dataset(self.data.train, self.tasks, c.batch_size * self.tasks_per_step, c.seed,
                                    feature_keys=keys)
            return dataset.skip(first_step) if first_step else dataset
        return task_sampled_dataset(self.data.train, self.tasks, self.tasks_per_step, c.batch_size, c.seed,
                                    sampling=c.task_sampling, feature_keys=keys, first_step=first_step)

    def _iterator(self, first_step: int = 0):
        """One device: an iterator that is checkpointed itself. A strategy's distributed iterator
        cannot be checkpointed, so it is rebuilt at the restored step instead."""
        if is_default(self.strategy):
            return iter(self.dataset())
        return iter(self.strategy.experimental_distribute_dataset(self.dataset(first_step)))

    def evaluate(self, split_name: str = "validation"):
        split = self.data.splits()[split_name]
        return evaluation.evaluate(self.tasks, self.predict(split), split)

    def checkpoint(self, iterator=None) -> tf.train.Checkpoint:
        """Everything a resumed run needs to continue exactly where this one stopped."""
        extra = {} if self.grad_method is None else {"grad_method": self.grad_method}
        if self.selector is not None:
            extra["selector"] = self.selector
        if iterator is not None:
            extra["iterator"] = iterator
        try:
            extra["rng"] = tf.random.get_global_generator()
        except RuntimeError:   # op determinism on and no global generator set: nothing draws from it
            pass
        return tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, objective=self.objective,
                                   step=self.step, guard=self.guard, **extra)

    def _check_finite(self):
        """TrainingError naming the task(s) and the step if a step went non-finite (policy stop)."""
        bad_step = int(self.guard.bad_step.numpy())
        if self.config.nan_policy != "stop" or bad_step == 0:
            return
        names = [t.name for t in self.tasks]
        bad = [n for n, b in zip(names, self.guard.bad_tasks.numpy()) if b]
        kept = f"; the last good checkpoint is in {os.path.join(self.config.run_dir, 'checkpoints')}" \
            if self.config.run_dir else ""
        raise TrainingError(f"step {bad_step}: non-finite loss or gradient for task(s) {bad or names}; "
                            f"lower --learning_rate or check the data{kept} (--nan_policy=skip_step skips such "
                            "steps instead).")

    def _first_step(self, run):
        """``run()`` (the first compiled call), with XLA failures turned into one TrainingError line."""
        try:
            run()
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
            if not self.config.jit_compile:
                raise
            noise = ("Graph execution error", "Detected at node", "<stack traces")
            lines = [l.strip() for l in str(e).splitlines() if l.strip() and not l.strip().startswith(noise)]
            first = (lines or [str(e).strip()])[0][:300]   # the op XLA rejects, not TF's preamble
            raise TrainingError(f"--jit_compile: XLA cannot compile this step ({first}); "
                                "run without --jit_compile.") from None

    def _chunk(self, step: int, per_call: int) -> int:
        """Steps to run after ``step``: at most ``per_call``, ending at the next step that logs,
        evaluates or checkpoints (or the last step)."""
        c = self.config
        end = min(c.steps, step + per_call)
        for every in (c.log_every, c.eval_every, c.checkpoint_every):
            if every:
                end = min(end, (step // every + 1) * every)
        return end - step

    def fit(self) -> dict:
        """Run up to ``config.steps`` steps (resuming from ``run_dir``'s newest checkpoint if any);
        returns the final results (also written to run_dir)."""
        c = self.config
        checkpointed = is_default(self.strategy)
        iterator = self._iterator() if checkpointed else None
        writer = manager = None
        if c.run_dir:
            os.makedirs(c.run_dir, exist_ok=True)
            writer = tf.summary.create_file_writer(os.path.join(c.run_dir, "tensorboard"))
            ckpt = self.checkpoint(iterator)
            manager = tf.train.CheckpointManager(ckpt, os.path.join(c.run_dir, "checkpoints"), max_to_keep=2)
            restored = restore_latest(ckpt, manager)
            if restored:
                self.restored = True
                self.resumed_from = int(self.step.numpy())
                print(f"Resuming from step {self.resumed_from} (checkpoint {restored}).", flush=True)
                self._check_finite()
        try:
            seconds, progress, reached = self._loop(iterator, writer, manager)
        except KeyboardInterrupt:
            raise self._interrupted(manager) from None
        done = reached - self.resumed_from
        if not self.history:   # resumed a finished run: nothing left to train
            self.history.append({"step": reached, "validation": self.evaluate("validation")})
        selected = {}
        if self.selector is not None:   # test metrics at the best validation step, never the last
            best = self.selector.restore_best()
            at_best = [h["validation"] for h in self.history if h["step"] == best]
            selected = {"best_step": best, "selected_by": self.selector.spec,
                        "stopped_early": reached < c.steps,
                        "validation": at_best[-1] if at_best else self.evaluate("validation")}
        test = self.evaluate("test")
        base = evaluation.baseline(self.tasks, self.data.train, self.data.test)
        results = {
            "steps": reached,
            "tasks": test,
            "baseline": base,
            "beats_baseline": evaluation.beats_baseline(self.tasks, test, base),
            "validation": self.history[-1]["validation"],
            "train_seconds": seconds,
            "steps_per_second": progress.last_rate if done > 0 else 0.0,   # steady state, as the bar
            "traces": self.trace_count,
            "skipped_steps": int(self.guard.skipped.numpy()),
            "resumed_from_step": self.resumed_from if self.restored else None,
            "replicas": self.strategy.num_replicas_in_sync,
            "label_scale": {t.name: [t.label_mean, t.label_scale] for t in self.tasks if t.kind == "regression"},
            **selected,
        }
        if self.conflict_log:
            results["gradient_conflict"] = self.conflict_log
        if writer:
            writer.flush()
        return results

    def _interrupted(self, manager) -> KeyboardInterrupt:
        """Ctrl-C during ``fit``: save a checkpoint at the step reached when that is safe (a run_dir, at
        least one step, no non-finite step under ``--nan_policy=stop``; a compiled call is never cut in
        the middle), and return a KeyboardInterrupt whose message says where the run stopped."""
        step = int(self.step.numpy())
        saved = None
        if manager is not None:
            latest = manager.latest_checkpoint
            saved = int(latest.rsplit("-", 1)[1]) if latest else None
            healthy = self.config.nan_policy != "stop" or int(self.guard.bad_step.numpy()) == 0
            if step > 0 and step != saved and healthy:
                try:
                    manager.save(checkpoint_number=step)
                    saved = step
                except Exception:  # noqa: BLE001  (the previous checkpoint stays the newest)
                    pass
        if saved:
            return KeyboardInterrupt(f"interrupted at step {step}; checkpoint at step {saved}; "
                                     "re-run the same command to resume")
        return KeyboardInterrupt(f"interrupted at step {step}; no checkpoint yet; re-run the same command to "
                                 "start again")

    def _loop(self, iterator, writer, manager):
        """The training loop from ``resumed_from`` to ``config.steps``; returns (seconds, Progress)."""
        c = self.config
        checkpointed = is_default(self.strategy)
        if iterator is None:
            iterator = self._iterator(self.resumed_from)
        names = [t.name for t in self.tasks]
        progress = Progress(c.steps, enabled=c.progress, first_step=self.resumed_from)
        start = time.perf_counter()
        per_call = c.steps_per_call if checkpointed else 1
        probe = iter(self.dataset().repeat()) if c.log_gradient_conflict else None   # the training stream stays as is
        i = self.resumed_from
        stop = self.selector is not None and self.selector.patience_exhausted(c.early_stopping_patience)
        while i < c.steps and not stop:
            n = self._chunk(i, per_call)
            if checkpointed:
                run = lambda: self._train_steps(iterator, tf.constant(n, tf.int64))  # noqa: E731
            else:
                batch = next(iterator)
                run = lambda: self._train_step(batch)  # noqa: E731
            first = i == self.resumed_from
            if first:
                self._first_step(run)
            else:
                run()
            i += n
            if first:
                progress.mark(i)   # the speed leaves out tracing and compiling
            if per_call > 1 and c.nan_policy == "stop":
                self._check_finite()   # the loop ended at the bad step: stop there, save nothing after it
            if i % c.log_every == 0 or i == c.steps:
                self._check_finite()
                mean, _ = self.guard.read_losses()
                skipped = int(self.guard.skipped.numpy())
                if writer:
                    with writer.as_default(step=i):
                        tf.summary.scalar("loss/total", float(self.guard.last_loss.numpy()))
                        for n, v, w in zip(names, mean, np.asarray(self.objective.task_weights())):
                            tf.summary.scalar(f"loss/{n}", v)
                            tf.summary.scalar(f"task_weight/{n}", w)
                        if self.grad_method is not None:
                            for n, w in zip(names, self.grad_method.task_weights().numpy()):
                                tf.summary.scalar(f"grad_weight/{n}", w)
                if probe is not None:
                    self._log_conflict(i, next(probe), writer)
                values = {f"loss_{n}": v for n, v in zip(names, mean)}
                if skipped:
                    values["skipped"] = skipped
                progress.update(i, values)
            evaluate = (c.eval_every and i % c.eval_every == 0) or i == c.steps
            if evaluate:
                val = self.evaluate("validation")
                self.history.append({"step": i, "validation": val})
                if writer:
                    with writer.as_default(step=i):
                        for n, metrics in val.items():
                            for k, v in metrics.items():
                                tf.summary.scalar(f"validation/{n}/{k}", v)
                if self.selector is not None:
                    self.selector.update(i, val)
                    stop = self.selector.patience_exhausted(c.early_stopping_patience)
            if manager and (evaluate or stop or (c.checkpoint_every and i % c.checkpoint_every == 0)):
                self._check_finite()   # never save after a bad step: the last good checkpoint stays
                manager.save(checkpoint_number=i)
        if stop and c.progress:
            print(f"Early stopping at step {i}: no better {self.selector.spec} in {c.early_stopping_patience} "
                  f"evaluations (best at step {int(self.selector.best_step.numpy())}).", flush=True)
        return time.perf_counter() - start, progress, i

    def _log_conflict(self, step, batch, writer):
        """Pairwise cosines and norms of the tasks' shared gradients on one probe batch."""
        cosines, norms, _ = (t.numpy() for t in self._conflict(batch))
        names = [t.name for t in self.tasks]
        pairs = {f"{a}|{b}": float(cosines[i, j]) for i, a in enumerate(names) for j, b in enumerate(names) if i < j}
        self.conflict_log.append({"step": step, "cosine": pairs, "norm": dict(zip(names, map(float, norms)))})
        if writer:
            with writer.as_default(step=step):
                for pair, value in pairs.items():
                    tf.summary.scalar(f"gradient_cosine/{pair}", value)
                for n, value in zip(names, norms):
                    tf.summary.scalar(f"gradient_norm/{n}", value)
