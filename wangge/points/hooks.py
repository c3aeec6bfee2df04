"""Where other apps tell the points system that a fact happened.

Each hook is called inside the caller's transaction, right where the fact is written, and
awards (or deducts) through ``services.points_award``: a fact scores once however often its
hook runs, so a retried service or two racing requests cannot score it twice. Call a hook
before writing your own audit row (the audit chain's lock is then the last one taken).

The conditions here are the ones ``facts.py`` reads back for the recompute; keep them together.
The hooks take the objects duck-typed and import nothing from the apps that call them.
"""

from __future__ import annotations

from datetime import datetime

from wangge.points.access import is_worker_post
from wangge.points.enums import FactKind
from wangge.points.models import Entry
from wangge.points.services import points_award

# Sources of events reported by workers themselves (the patrol); reports from residents, the
# hotline, sensors or cameras earn no worker points.
WORKER_SOURCES = ("patrol",)


def _reporter(event):
    """The worker's post that reported the event on patrol, or None."""
    if getattr(event, "source", None) not in WORKER_SOURCES:
        return None
    post = getattr(event, "reporter", None) if getattr(event, "reporter_id", None) else None
    return post if is_worker_post(post) else None


def _event_award(kind: str, event, at: datetime) -> Entry | None:
    post = _reporter(event)
    if post is None:
        return None
    return points_award(
        user=post.user_id,
        fact_kind=kind,
        fact_id=event.pk,
        at=at,
        scope_code=event.grid_code,
        note=event.number,
    )


def on_event_accepted(event, at: datetime) -> Entry | None:
    """A worker's patrol report was found valid: call when an event leaves "reported" for
    "accepted" (the accept action, or an escalation from "reported"). Awards "event_report"
    (+2 by default) to the reporter's user; fact id = the event's id."""
    return _event_award(FactKind.EVENT_REPORT, event, at)


def on_event_resolved_on_spot(event, at: datetime) -> Entry | None:
    """The reporter resolved their patrol report on the spot (action resolve_on_spot):
    awards "event_on_spot" (+3 by default)."""
    return _event_award(FactKind.EVENT_ON_SPOT, event, at)


def on_event_rejected(event, at: datetime) -> Entry | None:
    """A worker's patrol report was rejected (action reject): recorded as "event_rejected"
    (0 points by default, so the ledger shows it and an administrator may make it count)."""
    return _event_award(FactKind.EVENT_REJECTED, event, at)


def on_household_verified(task, at: datetime) -> Entry | None:
    """A household was verified on site (``verification.services.household_verify``): awards
    "household_verify" (+0.5 by default) to the verifying worker's user; fact id = the task's."""
    post = getattr(task, "done_by", None) if getattr(task, "done_by_id", None) else None
    if not is_worker_post(post):
        return None
    return points_award(
        user=post.user_id,
        fact_kind=FactKind.HOUSEHOLD_VERIFY,
        fact_id=task.pk,
        at=at,
        scope_code=task.grid_code,
    )


def on_care_visit(*, post, visit_id: int, at: datetime, scope_code: str = "") -> Entry | None:
    """A care visit was done by a worker (for the care app): "care_visit" (+1 by default)."""
    if not is_worker_post(post):
        return None
    return points_award(
        user=post.user_id,
        fact_kind=FactKind.CARE_VISIT,
        fact_id=visit_id,
        at=at,
        scope_code=scope_code,
    )


def on_task_answered(
    *, post, task_id: int, at: datetime, due: datetime, scope_code: str = ""
) -> Entry | None:
    """A campaign task (专项行动) was answered by the worker's post: "task_on_time" (+2 by
    default) when answered by ``due``; nothing when late (``on_task_overdue`` deducted then)."""
    if not is_worker_post(post) or at > due:
        return None
    return points_award(
        user=post.user_id,
        fact_kind=FactKind.TASK_ON_TIME,
        fact_id=task_id,
        at=at,
        scope_code=scope_code,
    )


def on_task_overdue(*, post, task_id: int, at: datetime, scope_code: str = "") -> Entry | None:
    """A campaign task passed its deadline unanswered (call from the deadline sweep): deducts
    "task_overdue" (−2 by default) from the responsible worker's user, once per task."""
    if not is_worker_post(post):
        return None
    return points_award(
        user=post.user_id,
        fact_kind=FactKind.TASK_OVERDUE,
        fact_id=task_id,
        at=at,
        scope_code=scope_code,
    )
