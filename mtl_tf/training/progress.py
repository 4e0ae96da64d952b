"""A progress bar for the training loop: in place on a terminal, a line per 10% otherwise."""

import sys
import time


class Progress:
    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total = max(1, total)
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_decile = -1

    def update(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        frac = step / self.total
        elapsed = time.perf_counter() - self.start
        rate = step / elapsed if elapsed > 0 else 0.0
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
