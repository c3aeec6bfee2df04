"""Running the demo generator: every registered step in order, each once."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
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


DEMO_ADMIN = "admin"


@transaction.atomic
def demo_accounts_ensure(*, data_dir: Path) -> list[tuple[str, str, str]]:
    """The demo accounts that exist so far (a system administrator for master data).

    Passwords are random, kept in ``data_dir/demo-accounts.txt`` (mode 0600) and reused by the
    next run, so a second ``wangge demo`` prints the same ones.
    """
    path = Path(data_dir) / "demo-accounts.txt"
    User = get_user_model()
    if path.exists() and User.objects.filter(username=DEMO_ADMIN).exists():
        text = path.read_text(encoding="utf-8")
    else:
        password = secrets.token_urlsafe(12)
        user, _created = User.objects.get_or_create(username=DEMO_ADMIN)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        text = f"{DEMO_ADMIN}\t{password}\tsystem administrator (Django admin, master data)\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    return [tuple(line.split("\t", 2)) for line in text.strip().splitlines()]
