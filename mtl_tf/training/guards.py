"""The in-graph step guard: non-finite losses/gradients, skipped updates, running loss sums.

The host reads the guard's variables only every ``log_every`` steps (and before a checkpoint),
so the compiled step never waits for the host. A step is *good* when every present task's loss,
the objective's value and every gradient are finite (``verdict``, a pure function of the step's
results). A bad step applies no update: the Trainer applies the step's (gradient, variable)
pairs inside ``tf.cond(verdict)``, so neither the variables nor the optimizer slots/iterations
change, and ``record`` puts the objective's and gradient method's state back.
``--nan_policy=stop`` also skips every later step and the Trainer stops with the step and tasks;
``skip_step`` counts the skipped steps and goes on.
"""

import tensorflow as tf

from mtl_tf.replicas import all_reduce_sum, replicated_state

NAN_POLICIES = ("stop", "skip_step")


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

    def verdict(self, out, grads) -> tf.Tensor:
        """Scalar bool, the same on every replica: the step ``out`` (``train_step``'s) with gradients
        ``grads`` may be applied."""
        ok = all_finite([tf.where(out["present"], out["task_losses"], 0.0), out["loss"]] + list(grads))
        if self.policy == "stop":
            ok = ok & tf.equal(self.bad_step, 0)   # after a bad step nothing more is applied
        return tf.equal(all_reduce_sum(1 - tf.cast(ok, tf.int32)), 0)

    def record(self, step, out, ok, state_before, state_vars):
        """After the step (``ok``: its ``verdict``): accumulate the good step's losses, or count the
        bad one and put ``state_vars`` (objective / gradient-method state) back to ``state_before``."""
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
        return ok

    def read_losses(self):
        """(mean loss per task since the last read [T] numpy, counts [T]) and reset the sums."""
        sums, counts = self.loss_sums.numpy(), self.loss_counts.numpy()
        self.loss_sums.assign(tf.zeros_like(self.loss_sums))
        self.loss_counts.assign(tf.zeros_like(self.loss_counts))
        return sums / (counts + (counts == 0)), counts
