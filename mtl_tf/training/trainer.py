"""The Trainer: compiled task-sampled step, periodic evaluation, summaries, checkpoints.

One loop serves every builder, objective and data mode: the step (the implementation's
``optimization.train_step``) turns a batch into the per-task loss vector and hands it to the
objective. The trainer never branches on a builder's or objective's name.
"""

import dataclasses
import math
import os
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from mtl_tf import impl
from mtl_tf.gradients import gradient_step
from mtl_tf.data import joint_dataset, task_sampled_dataset
from mtl_tf.training import evaluation
from mtl_tf.training.evaluation import model_feature_keys
from mtl_tf.training.progress import Progress


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a task's loss became non-finite)."""


@dataclasses.dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 64             # examples per sampled task per step
    tasks_per_step: Optional[int] = None   # None: all tasks
    learning_rate: float = 1e-3
    seed: int = 0
    eval_every: int = 500            # 0: evaluate only at the end
    log_every: int = 50
    data_mode: str = "task_sampled"  # or "joint"
    task_sampling: str = "uniform"   # or "proportional" (by labelled examples per task)
    run_dir: Optional[str] = None    # None: write nothing
    progress: bool = True


class Trainer:
    """Train ``model`` on ``data`` with ``objective`` (and ``grad_method``, a
    ``mtl_tf.gradients.GradientMethod`` or None for plain back-propagation of the objective).

    After ``fit``: ``trace_count`` is the number of times the step was traced
    (exactly 1 for a healthy run), ``history`` holds validation metrics over time.
    """

    def __init__(self, model, data, objective, config: TrainConfig, grad_method=None):
        self.model, self.data, self.objective, self.config = model, data, objective, config
        self.grad_method = grad_method
        objective.check_model(model, data.tasks)
        self.tasks = list(data.tasks)
        self.tasks_per_step = config.tasks_per_step or len(self.tasks)
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.optimizer.build(list(model.trainable_variables) + list(objective.trainable_variables))
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.trace_count = 0
        self.history = []
        self._optimization = impl.module("optimization")
        self._train_step = tf.function(self._step)
        self.predict = evaluation.Predictor(model)

    def _step(self, batch):
        self.trace_count += 1  # Python side effect: runs only while tracing
        self.objective.before_step(self.model, self.tasks, batch)
        if self.grad_method is None:
            out = self._optimization.train_step(self.model, self.optimizer, self.objective, self.tasks, batch)
        else:
            out = gradient_step(self.model, self.optimizer, self.objective, self.grad_method, self.tasks, batch)
            out["grad_weights"] = self.grad_method.task_weights()
        self.step.assign_add(1)
        out["task_weights"] = self.objective.task_weights()
        return out

    def dataset(self) -> tf.data.Dataset:
        c = self.config
        keys = model_feature_keys(self.model)  # Keras 3 maps dict inputs by position: feed only the model's
        if c.data_mode == "joint":
            return joint_dataset(self.data.train, self.tasks, c.batch_size * self.tasks_per_step, c.seed,
                                 feature_keys=keys)
        return task_sampled_dataset(self.data.train, self.tasks, self.tasks_per_step, c.batch_size, c.seed,
                                    sampling=c.task_sampling, feature_keys=keys)

    def evaluate(self, split_name: str = "validation"):
        split = self.data.splits()[split_name]
        return evaluation.evaluate(self.tasks, self.predict(split), split)

    def fit(self) -> dict:
        """Run ``config.steps`` steps; returns the final results (also written to run_dir)."""
        c = self.config
        writer = manager = None
        if c.run_dir:
            os.makedirs(c.run_dir, exist_ok=True)
            writer = tf.summary.create_file_writer(os.path.join(c.run_dir, "tensorboard"))
            extra = {} if self.grad_method is None else {"grad_method": self.grad_method}
            ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                       objective=self.objective, step=self.step, **extra)
            manager = tf.train.CheckpointManager(ckpt, os.path.join(c.run_dir, "checkpoints"), max_to_keep=2)
        names = [t.name for t in self.tasks]
        progress = Progress(c.steps, enabled=c.progress)
        running = np.zeros(len(names))
        seen = np.zeros(len(names))
        start = time.perf_counter()
        iterator = iter(self.dataset())
        for i in range(1, c.steps + 1):
            out = self._train_step(next(iterator))
            losses, present = out["task_losses"].numpy(), out["present"].numpy()
            if not np.all(np.isfinite(losses[present])) or not math.isfinite(float(out["loss"])):
                bad = [n for n, l, p in zip(names, losses, present) if p and not np.isfinite(l)]
                raise TrainingError(f"step {i}: non-finite loss for task(s) {bad or names}; "
                                    "lower --learning_rate or check the data.")
            running += np.where(present, losses, 0.0)
            seen += present
            if i % c.log_every == 0 or i == c.steps:
                mean = running / np.maximum(seen, 1)
                if writer:
                    with writer.as_default(step=i):
                        tf.summary.scalar("loss/total", float(out["loss"]))
                        for n, v, w in zip(names, mean, out["task_weights"].numpy()):
                            tf.summary.scalar(f"loss/{n}", v)
                            tf.summary.scalar(f"task_weight/{n}", w)
                        if "grad_weights" in out:
                            for n, w in zip(names, out["grad_weights"].numpy()):
                                tf.summary.scalar(f"grad_weight/{n}", w)
                progress.update(i, {f"loss_{n}": v for n, v in zip(names, mean)})
                running[:] = 0
                seen[:] = 0
            if (c.eval_every and i % c.eval_every == 0) or i == c.steps:
                val = self.evaluate("validation")
                self.history.append({"step": i, "validation": val})
                if writer:
                    with writer.as_default(step=i):
                        for n, metrics in val.items():
                            for k, v in metrics.items():
                                tf.summary.scalar(f"validation/{n}/{k}", v)
                if manager:
                    manager.save(checkpoint_number=i)
        seconds = time.perf_counter() - start
        test = self.evaluate("test")
        base = evaluation.baseline(self.tasks, self.data.train, self.data.test)
        results = {
            "steps": c.steps,
            "tasks": test,
            "baseline": base,
            "beats_baseline": evaluation.beats_baseline(self.tasks, test, base),
            "validation": self.history[-1]["validation"],
            "train_seconds": seconds,
            "steps_per_second": c.steps / seconds,
            "traces": self.trace_count,
            "label_scale": {t.name: [t.label_mean, t.label_scale] for t in self.tasks if t.kind == "regression"},
        }
        if writer:
            writer.flush()
        return results
