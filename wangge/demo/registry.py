"""The demo city generator's plug-in shape.

Each app that fills part of the demo city declares its steps in its own ``demo.py``::

    from wangge.demo.registry import DemoContext, demo_step

    @demo_step("places", order=10, description="districts, streets, communities, grids")
    def places(ctx: DemoContext) -> dict:
        ...
        return {"grids": 14000}      # a summary, printed and recorded

Steps run in ``order`` with a shared seed; ``ctx.rng(*keys)`` gives each piece of work its own
deterministic random stream (so a step that resumes half-way produces what a full run would).
A finished step is recorded (``DemoRun``) and skipped by the next run; an interrupted step must
be safe to run again without duplicating rows.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from django.utils.module_loading import autodiscover_modules

from wangge.core.progress import Progress

SCALES = ("district", "city")


@dataclass
class DemoContext:
    scale: str = "district"
    seed: int = 20260101
    out: TextIO = field(default_factory=lambda: sys.stdout)
    verbose: bool = True
    data_dir: Path | None = None  # where steps may leave files (demo-accounts.txt)
    residents: int | None = None  # how many residents to generate (None: the scale's default)
    accounts: list[str] = field(default_factory=list)

    def rng(self, *keys: object) -> np.random.Generator:
        """A random stream that depends only on the seed and ``keys``."""
        digest = hashlib.sha256(repr((self.seed, *keys)).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:16], "little"))

    def progress(self, label: str, total: int) -> Progress:
        return Progress(label, total, out=self.out, enabled=self.verbose)

    def log(self, message: str) -> None:
        if self.verbose:
            self.out.write(message + "\n")
            self.out.flush()


@dataclass(frozen=True)
class Step:
    name: str
    order: int
    func: Callable[[DemoContext], dict[str, Any] | None]
    description: str = ""


_steps: dict[str, Step] = {}


def demo_step(name: str, *, order: int, description: str = ""):
    def register(func):
        _steps[name] = Step(name=name, order=order, func=func, description=description)
        return func

    return register


def all_steps() -> list[Step]:
    autodiscover_modules("demo")
    return sorted(_steps.values(), key=lambda s: (s.order, s.name))
