"""Where the facts that score live, read back for the recompute.

Each source yields ``Fact`` rows from the tables where the facts are recorded, under the same
conditions the hooks award them (``hooks.py``); the recompute scores them again and compares
with the ledger. A kind no table records yet (care visits, campaign tasks) is not listed in
``SOURCED_KINDS``: the recompute takes its facts from the ledger.

- ``event_report``: a patrol report by a worker's post left "reported" for "accepted" (accepted,
  or escalated from "reported") — the report was valid; the first such row of the event's log.
- ``event_on_spot``: the worker resolved their own patrol report on the spot.
- ``event_rejected``: the dispatcher rejected a worker's patrol report (0 points by default).
- ``household_verify``: a verification task done by a worker's post.
"""

from __future__ import annotations

from collections.abc import Iterator

from wangge.points.enums import WORKER_ROLES, FactKind
from wangge.points.ledger import Fact

SOURCED_KINDS = (
    FactKind.EVENT_REPORT,
    FactKind.EVENT_ON_SPOT,
    FactKind.EVENT_REJECTED,
    FactKind.HOUSEHOLD_VERIFY,
)
CHUNK = 5000


def collect() -> Iterator[Fact]:
    yield from event_facts()
    yield from household_facts()


def event_facts() -> Iterator[Fact]:
    from wangge.events.enums import EventAction, EventState, Source
    from wangge.events.models import EventLog

    base = EventLog.objects.filter(
        event__source=Source.PATROL, event__reporter__role__in=WORKER_ROLES
    )
    kinds = (
        (
            FactKind.EVENT_REPORT,
            base.filter(from_state=EventState.REPORTED, to_state=EventState.ACCEPTED),
        ),
        (FactKind.EVENT_ON_SPOT, base.filter(action=EventAction.RESOLVE_ON_SPOT)),
        (FactKind.EVENT_REJECTED, base.filter(action=EventAction.REJECT)),
    )
    for kind, qs in kinds:
        seen: set[int] = set()
        rows = qs.order_by("event_id", "at", "id").values_list(
            "event_id", "at", "event__reporter__user_id", "event__grid_code", "event__number"
        )
        for event_id, at, user_id, grid_code, number in rows.iterator(chunk_size=CHUNK):
            if event_id in seen:
                continue
            seen.add(event_id)
            yield Fact(kind, event_id, user_id, at, grid_code, number)


def household_facts() -> Iterator[Fact]:
    from wangge.verification.enums import TaskState
    from wangge.verification.models import Task

    rows = (
        Task.objects.filter(
            state=TaskState.DONE, done_at__isnull=False, done_by__role__in=WORKER_ROLES
        )
        .order_by("id")
        .values_list("id", "done_at", "done_by__user_id", "grid_code")
    )
    for task_id, at, user_id, grid_code in rows.iterator(chunk_size=CHUNK):
        yield Fact(FactKind.HOUSEHOLD_VERIFY, task_id, user_id, at, grid_code)
