"""Running the demo generator: every registered step in order, each once."""

from __future__ import annotations

import time

from django.utils.translation import gettext as _

from wangge.core.errors import ApplicationError
from wangge.demo.models import DemoRun
from wangge.demo.registry import SCALES, DemoContext, all_steps


def demo_build(*, scale: str, seed: int, ctx: DemoContext | None = None) -> dict[str, dict]:
    """Run the steps not yet recorded; refuse to mix scales or seeds in one database."""
    if scale not in SCALES:
        raise ApplicationError(_("Unknown scale %(scale)s.") % {"scale": scale})
    ctx = ctx or DemoContext(scale=scale, seed=seed)
    previous = DemoRun.objects.exclude(scale=scale, seed=seed).first()
    if previous is not None:
        raise ApplicationError(
            _(
                "This database already holds a demo built at scale %(scale)s with seed %(seed)s; "
                "run with --reset to rebuild it."
            )
            % {"scale": previous.scale, "seed": previous.seed},
            code="demo_mismatch",
        )
    results: dict[str, dict] = {}
    for step in all_steps():
        if DemoRun.objects.filter(step=step.name).exists():
            ctx.log(_("step %(name)s: already built, skipped") % {"name": step.name})
            continue
        ctx.log(
            _("step %(name)s: %(description)s")
            % {"name": step.name, "description": step.description}
        )
        started = time.monotonic()
        summary = step.func(ctx) or {}
        summary["seconds"] = round(time.monotonic() - started, 1)
        DemoRun.objects.create(step=step.name, scale=scale, seed=seed, summary=summary)
        results[step.name] = summary
        ctx.log(
            "  "
            + ", ".join(
                f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in summary.items()
            )
        )
    return results
