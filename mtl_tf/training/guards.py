"""The in-graph step guard: non-finite losses/gradients, skipped updates, running loss sums.

The host reads the guard's variables only every ``log_every`` steps (and before a checkpoint),
so the compiled step never waits for the host. A step is *good* when every present task's loss,
the objective's value and every gradient are finite. A bad step applies no update: the optimizer
call is wrapped in ``tf.cond`` (``GuardedOptimizer``) so neither the variables nor the optimizer
slots/iterations change, and the Trainer puts the objective's and gradient method's state back.
``--nan_policy=stop`` also skips every later step and the Trainer stops with the step and tasks;
``skip_step`` counts the skipped steps and goes on.
"""

import tensorflow as tf
from absl import flags

from mtl_tf.gradients import all_reduce_sum, replicated_state

NAN_POLICIES = ("stop", "skip_step")

flags.DEFINE_enum("nan_policy", "stop", list(NAN_POLICIES),
                  "What a non-finite loss or gradient does: stop (exit 1 naming the task(s) and step, keeping the "
                  "last good checkpoint) or skip_step (skip that update, count it in metrics.json).")


def all_finite(tensors) -> tf.Tensor:
    """Scalar bool: every entry of every tensor (None entries are ignored) is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors if t is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


class StepGuard(tf.Module):
    """State: running per-task loss sums/counts since the last read, the skipped-step count, the
    first bad step (0: none) and which tasks' losses were non-finite then, the last good total loss.
    All are written with the same value on every replica (they come from all-reduced values)."""

    def __init__(self, num_tasks: int, policy: str = "stop", name=None):
        super().__init__(name=name)
        if policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {list(NAN_POLICIES)}, got {policy!r}.")
        self.policy = policy
        self.loss_sums = replicated_state(tf.zeros([num_tasks]), "loss_sums")
        self.loss_counts = replicated_state(tf.zeros([num_tasks]), "loss_counts")
        self.skipped = replicated_state(tf.constant(0, tf.int64), "skipped")
        self.bad_step = replicated_state(tf.constant(0, tf.int64), "bad_step")
        self.bad_tasks = replicated_state(tf.zeros([num_tasks], tf.bool), "bad_tasks")
        self.last_loss = replicated_state(tf.constant(0.0), "last_loss")
        self._loss_ok = self._step_ok = None  # tensors of the step being traced

    def watch(self, objective):
        """``objective`` wrapped so its call also records whether its inputs and value are finite."""
        return _Watched(objective, self)

    def guard(self, optimizer):
        """``optimizer`` whose ``apply_gradients`` applies only on a good step."""
        return GuardedOptimizer(optimizer, self)

    def _watch_losses(self, losses, present, value):
        self._loss_ok = all_finite([tf.where(present, losses, 0.0), value])

    def _decide(self, grads):
        """The step's verdict (same on every replica), from the watched losses and ``grads``."""
        ok = all_finite(grads)
        if self._loss_ok is not None:
            ok = ok & self._loss_ok
        if self.policy == "stop":
            ok = ok & tf.equal(self.bad_step, 0)   # after a bad step nothing more is applied
        ok = tf.equal(all_reduce_sum(1 - tf.cast(ok, tf.int32)), 0)
        self._step_ok = ok
        return ok

    def record(self, step, out, state_before, state_vars):
        """After the step: accumulate the good step's losses, or count the bad one and put
        ``state_vars`` (objective / gradient-method state) back to ``state_before``."""
        ok = self._step_ok if self._step_ok is not None else self._decide([])
        losses, present = out["task_losses"], out["present"]
        counted = present & ok
        self.loss_sums.assign_add(tf.where(counted, losses, 0.0))
        self.loss_counts.assign_add(tf.cast(counted, tf.float32))
        self.last_loss.assign(tf.where(ok, tf.cast(out["loss"], tf.float32), self.last_loss))
        first_bad = ~ok & tf.equal(self.bad_step, 0)
        bad = ~tf.math.is_finite(losses)
        if "nonfinite_rows" in out:   # a gradient method saw a non-finite gradient row for the task
            bad = bad | out["nonfinite_rows"]
        self.bad_tasks.assign(tf.where(first_bad, present & bad, self.bad_tasks))
        self.bad_step.assign(tf.where(first_bad, step, self.bad_step))
        self.skipped.assign_add(tf.cast(~ok, tf.int64))
        for v, before in zip(state_vars, state_before):
            v.assign(tf.where(ok, v.read_value(), before))
        self._loss_ok = self._step_ok = None
        return ok

    def read_losses(self):
        """(mean loss per task since the last read [T] numpy, counts [T]) and reset the sums."""
        sums, counts = self.loss_sums.numpy(), self.loss_counts.numpy()
        self.loss_sums.assign(tf.zeros_like(self.loss_sums))
        self.loss_counts.assign(tf.zeros_like(self.loss_counts))
        return sums / (counts + (counts == 0)), counts


class _Watched:
    """An objective whose call also tells the guard whether its losses and value are finite."""

    def __init__(self, objective, guard):
        self._objective, self._guard = objective, guard

    def __call__(self, losses, present):
        value = self._objective(losses, present)
        self._guard._watch_losses(losses, present, value)
        return value

    def __getattr__(self, name):
        return getattr(self._objective, name)


class GuardedOptimizer:
    """``apply_gradients`` inside ``tf.cond(step is good)``; everything else is the optimizer's."""

    def __init__(self, optimizer, guard):
        self._optimizer, self._guard = optimizer, guard
        self.pending = None   # under a strategy: the (gradient, variable) pairs to apply after the replica step

    def apply_gradients(self, grads_and_vars):
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        ok = self._guard._decide([g for g, _ in pairs])
        if not tf.distribute.has_strategy():
            return tf.cond(ok, lambda: self._apply(pairs), lambda: tf.constant(False))
        # Under a strategy the optimizer's all-reduce (a synchronization point) may not sit in a
        # tf.cond inside the replica function; the Trainer applies ``pending`` after strategy.run.
        self.pending = pairs
        return ok

    def _apply(self, pairs):
        self._optimizer.apply_gradients(pairs)
        return tf.constant(True)

    def __getattr__(self, name):
        return getattr(self._optimizer, name)
