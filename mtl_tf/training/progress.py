"""A progress bar for the training loop: in place on a terminal, a line per 10% otherwise.

Its speed is the steady state of this invocation: steps and seconds counted from ``mark(step)``
(the Trainer marks the end of its first compiled call, so tracing and compiling are left out, as
are the steps of a run this one resumed). Before there is a mark, or when no step ran after it,
the speed counts from ``first_step`` at creation. ``last_rate`` is the speed of the latest
``update`` (kept when the bar is off); the Trainer reports it as ``steps_per_second``, so the
summary says what the bar's last line said.
"""

import sys
import time


class Progress:
    def __init__(self, total: int, stream=None, enabled: bool = True, first_step: int = 0, clock=time.perf_counter):
        self.clock = clock
        self.total = max(1, total)
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.clock()
        self.first_step = first_step
        self._mark = None   # (step, time) where the steady state starts
        self._last_decile = -1
        self.last_rate = 0.0

    def mark(self, step: int) -> None:
        """Count the speed from ``step``, now (call once, after the first compiled call)."""
        if self._mark is None:
            self._mark = (step, self.clock())

    def rate(self, step: int) -> float:
        """Steps per second up to ``step``: since the mark if a step ran after it, else since creation."""
        now = self.clock()
        if self._mark is not None and step > self._mark[0] and now > self._mark[1]:
            return (step - self._mark[0]) / (now - self._mark[1])
        elapsed = now - self.start
        return (step - self.first_step) / elapsed if elapsed > 0 and step > self.first_step else 0.0

    def update(self, step: int, values: dict) -> None:
        rate = self.last_rate = self.rate(step)
        if not self.enabled:
            return
        frac = step / self.total
        eta = (self.total - step) / rate if rate > 0 else 0.0
        filled = int(25 * frac)
        text = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        line = (f"[{'=' * filled}{'.' * (25 - filled)}] {step}/{self.total} "
                f"{rate:.0f} steps/s eta {eta:.0f}s  {text}")
        if self.tty:
            self.stream.write("\r" + line[:200] + "\x1b[K")
            if step >= self.total:
                self.stream.write("\n")
        else:
            decile = int(10 * frac)
            if decile > self._last_decile or step >= self.total:
                self._last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()
