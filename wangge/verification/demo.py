"""Demo verification: last year's cycle done in the demo street, this year's under way.

In the demo street (水井坊街道's community 510104017001 and its neighbours) every grid had a
round in the previous cycle, closed at ≈ 96 % coverage; in the current cycle each grid of the
demo community has a round part-way through, except the demo grid, which has one round per
micro-grid — the demo micro-grid worker's (…001001) still untouched, for the walk-through.
A few visits go through the real service (moves, vacancies, corrections) so the discrepancy
report has something to show; the rest are confirmations written in bulk.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.models import Post
from wangge.accounts.scope import SYSTEM
from wangge.demo.registry import DemoContext, demo_step
from wangge.people.models import House, Resident
from wangge.regions.models import Grid
from wangge.verification import services
from wangge.verification.enums import RoundState, TaskOutcome, TaskState
from wangge.verification.models import Round, Task

DEMO_STREET = "510104017"
DEMO_COMMUNITY = "510104017001"
DEMO_GRID = "510104017001001"
DEMO_MICRO = "510104017001001001"


def _cycles() -> tuple[str, str]:
    year = timezone.localdate().year
    return str(year - 1), str(year)


@demo_step("verification", order=40, description=_("door-to-door verification rounds"))
def verification(ctx: DemoContext) -> dict:
    if not Grid.objects.filter(code=DEMO_MICRO).exists():
        return {"rounds": 0}
    last, this = _cycles()
    now = timezone.now()
    grids = list(
        Grid.objects.filter(code__startswith=DEMO_STREET)
        .exclude(kind="micro")
        .order_by("code")
        .values_list("code", flat=True)
    )
    rng = ctx.rng("verification")
    with transaction.atomic():
        for rnd in services.rounds_create_for(actor=SYSTEM, code=DEMO_STREET, cycle=last):
            # the previous cycle: done and closed
            _confirm_share(rnd, 0.96, rng, now - timedelta(days=300), days=60)
            Round.objects.filter(pk=rnd.pk).update(
                state=RoundState.CLOSED, closed_at=now - timedelta(days=230)
            )
    with transaction.atomic():
        mine = [g for g in grids if g.startswith(DEMO_COMMUNITY) and g != DEMO_GRID]
        micros = list(
            Grid.objects.filter(parent__code=DEMO_GRID)
            .order_by("code")
            .values_list("code", flat=True)
        )
        current = [
            services.round_create(actor=SYSTEM, code=g, cycle=this)
            for g in mine + micros
            if House.objects.filter(grid_code__startswith=g).exists()
        ]
        for rnd in current:
            if rnd.place_code == DEMO_MICRO:
                continue
            share = float(rng.uniform(0.3, 0.9))
            _visit_some(rnd, rng)
            _confirm_share(rnd, share, rng, now - timedelta(days=20), days=19)
    return {
        "rounds": Round.objects.count(),
        "tasks": Task.objects.count(),
        "verified": Task.objects.filter(state=TaskState.DONE).count(),
    }


def _worker(code: str):
    return (
        Post.objects.filter(is_active=True, place_code__in=[code, code[:15]])
        .filter(Q(role="grid_worker") | Q(role="micro_grid_worker"))
        .order_by("-place_code")
        .first()
    )


def _confirm_share(rnd: Round, share: float, rng, start, *, days: int) -> None:
    """Mark ``share`` of the round's pending households confirmed, spread over ``days``."""
    pending = list(rnd.tasks.filter(state=TaskState.PENDING).values_list("id", flat=True))
    want = int(round(share * rnd.tasks_total)) - (rnd.tasks_total - len(pending))
    if want <= 0:
        return
    chosen = rng.choice(len(pending), size=min(want, len(pending)), replace=False)
    post = _worker(rnd.place_code)
    tasks = list(Task.objects.filter(pk__in=[pending[int(i)] for i in chosen]))
    for t in tasks:
        t.state = TaskState.DONE
        t.outcome = TaskOutcome.CONFIRMED
        t.done_by = post
        t.done_at = start + timedelta(minutes=int(rng.integers(0, days * 24 * 60)))
    Task.objects.bulk_update(tasks, ["state", "outcome", "done_by", "done_at"], batch_size=2000)


def _visit_some(rnd: Round, rng) -> None:
    """A few real visits through the service: a move-out, a vacancy, a phone corrected."""
    tasks = list(rnd.tasks.filter(state=TaskState.PENDING).order_by("id")[:3])
    for i, t in enumerate(tasks):
        ids = list(
            Resident.objects.filter(house_id=t.house_id, moved_out__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not ids:
            continue
        members = [services.MemberCheck(r) for r in ids]
        vacant = False
        if i % 3 == 0 and len(ids) > 1:
            members[-1] = services.MemberCheck(ids[-1], "moved_out")
        elif i % 3 == 1:
            members[0] = services.MemberCheck(
                ids[0], "correct", {"phone": f"139{int(rng.integers(10**7, 10**8)):08d}"}
            )
        elif len(ids) == 1:
            members, vacant = [], True
        services.household_verify(actor=SYSTEM, task=t, members=members, vacant=vacant)
