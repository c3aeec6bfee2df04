"""Progress lines with counts and an ETA for long commands."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label: done/total (pct) elapsed, ETA`` at most every ``interval`` seconds."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        out: TextIO | None = None,
        interval: float = 2.0,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = max(int(total), 0)
        self.done = 0
        self.out = out if out is not None else sys.stdout
        self.interval = interval
        self.enabled = enabled
        self.started = time.monotonic()
        self._last = self.started

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._print(now)

    def finish(self) -> None:
        if self.enabled:
            self._print(time.monotonic(), final=True)

    def _print(self, now: float, final: bool = False) -> None:
        elapsed = now - self.started
        if self.total:
            pct = 100.0 * self.done / self.total
            if final or not self.done:
                eta = ""
            else:
                eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f}s"
            line = f"  {self.label}: {self.done:,}/{self.total:,} ({pct:.0f}%) {elapsed:.1f}s{eta}"
        else:
            line = f"  {self.label}: {self.done:,} {elapsed:.1f}s"
        self.out.write(line + "\n")
        self.out.flush()
