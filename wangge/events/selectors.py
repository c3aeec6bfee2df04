"""Reads of the closed loop, always through the acting post's scope.

A post sees the events of its subtree; a unit handler sees the events dispatched to its unit
(and nothing else of the place tree's events). Missing and out of scope are the same 404.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from wangge.accounts.enums import Role
from wangge.accounts.scope import SYSTEM, scope_for
from wangge.core.errors import NotFound, ValidationError
from wangge.events import workflow as W
from wangge.events.enums import OPEN_STATES, EventState
from wangge.events.models import Category, Event, EventLog, Notification


def _visible(actor) -> QuerySet[Event]:
    qs = Event.objects.all()
    if actor is SYSTEM:
        return qs
    if actor is None or not actor.is_active:
        return qs.none()
    if actor.role == Role.UNIT_HANDLER:
        return qs.filter(unit_id=actor.unit_id) if actor.unit_id else qs.none()
    if actor.role == Role.RESIDENT:
        return qs.filter(reporter=actor)
    # a post sees its subtree's events, and the events it reported wherever they are
    return qs.filter(scope_for(actor).q("grid_code") | Q(reporter=actor))


def event_list(*, actor, filters: dict | None = None) -> QuerySet[Event]:
    """Events in scope, newest first; filters: state (or "open"), category, grid (prefix),
    overdue, supervised, unit, level, q (number or title)."""
    f = filters or {}
    qs = _visible(actor).select_related("category", "unit")
    state = f.get("state") or ""
    if state == "open":
        qs = qs.filter(state__in=OPEN_STATES)
    elif state:
        try:
            qs = qs.filter(state=EventState(state))
        except ValueError:
            raise ValidationError(_("Unknown state."), code="invalid_state") from None
    if f.get("category"):
        qs = qs.filter(Q(category__code=f["category"]) | Q(category__parent__code=f["category"]))
    if f.get("grid"):
        from wangge.regions.codes import prefix_filter

        qs = qs.filter(**prefix_filter(f["grid"], "grid_code"))
    if f.get("overdue") in (True, "1", "true"):
        qs = qs.filter(overdue=True)
    if f.get("supervised") in (True, "1", "true"):
        qs = qs.filter(supervised=True)
    if f.get("level"):
        qs = qs.filter(level=f["level"])
    if f.get("q"):
        q = f["q"].strip()
        qs = qs.filter(Q(number=q) | Q(title__contains=q))
    return qs.order_by("-reported_at", "-id")


def event_get(*, actor, event_id) -> Event:
    try:
        pk = int(event_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such event.")) from None
    e = _visible(actor).select_related("category__parent", "unit", "reporter__user").filter(pk=pk)
    e = e.first()
    if e is None:
        raise NotFound(_("No such event."))
    return e


def event_timeline(*, actor, event: Event) -> list[EventLog]:
    event_get(actor=actor, event_id=event.pk)
    return list(event.log.select_related("post__user").prefetch_related("photos"))


def event_actions(*, actor, event: Event) -> list:
    """What this post may do with the event now (from the workflow table)."""
    return W.allowed_actions(actor, event)


def category_list(*, actor) -> QuerySet[Category]:
    """The active categories (the taxonomy is the same for everyone)."""
    return Category.objects.filter(is_active=True).select_related("parent").order_by("code")


def inbox(*, actor, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(post=actor).select_related("event")
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def duplicate_candidates(*, actor, event: Event, limit: int = 10) -> list[tuple[Event, float]]:
    """Open events of the same category near this one in space and time — (event, metres),
    nearest first: what a dispatcher checks before accepting (and may merge)."""
    import math
    from datetime import timedelta

    from django.conf import settings

    event_get(actor=actor, event_id=event.pk)
    if event.lon is None or event.lat is None:
        return []
    metres = float(getattr(settings, "WANGGE_DUPLICATE_METERS", 50))
    hours = float(getattr(settings, "WANGGE_DUPLICATE_HOURS", 72))
    dlat = metres / 111_320
    dlon = metres / (111_320 * max(math.cos(math.radians(event.lat)), 0.01))
    qs = (
        _visible(actor)
        .filter(
            category_id=event.category_id,
            state__in=OPEN_STATES,
            lon__range=(event.lon - dlon, event.lon + dlon),
            lat__range=(event.lat - dlat, event.lat + dlat),
            reported_at__gte=event.reported_at - timedelta(hours=hours),
            reported_at__lte=event.reported_at + timedelta(hours=hours),
        )
        .exclude(pk=event.pk)
        .select_related("category")
    )
    out = []
    for other in qs[:200]:
        d = _metres(event.lon, event.lat, other.lon, other.lat)
        if d <= metres:
            out.append((other, round(d, 1)))
    out.sort(key=lambda x: x[1])
    return out[:limit]


def _metres(lon1, lat1, lon2, lat2) -> float:
    import math

    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def spot_check_sample(*, actor, days: int = 30, share: float = 0.1) -> list[Event]:
    """A random sample (``share``, at least one) of the on-the-spot resolutions of the last
    ``days`` in the scope not yet spot-checked: what the community checks this week. The draw
    is fixed for the post's place and the ISO week, so the page shows the same sample on every
    visit; an event leaves it when it is checked."""
    import math
    import random
    from datetime import timedelta

    from django.utils import timezone

    from wangge.events.enums import EventAction

    now = timezone.now()
    window = _visible(actor).filter(on_spot=True, state=EventState.CLOSED)
    window = window.filter(closed_at__gte=now - timedelta(days=days))
    ids = sorted(window.values_list("id", flat=True))
    if not ids:
        return []
    year, week, _day = timezone.localtime(now).isocalendar()
    draw = random.Random(f"{getattr(actor, 'place_code', '')}:{year}-W{week}")  # noqa: S311
    chosen = draw.sample(ids, max(1, math.ceil(len(ids) * share)))
    checked = EventLog.objects.filter(
        event_id__in=chosen, action__in=[EventAction.SPOT_CHECK_PASS, EventAction.SPOT_CHECK_FAIL]
    ).values_list("event_id", flat=True)
    todo = set(chosen) - set(checked)
    return list(window.filter(pk__in=todo).select_related("category").order_by("-closed_at"))


def spot_check_summary(*, actor, days: int = 30) -> dict[str, int]:
    """Over the last ``days`` in the scope: events resolved on the spot, spot checks passed
    and failed (a failed check sent the event back for handling)."""
    from datetime import timedelta

    from django.db.models import Count
    from django.utils import timezone

    from wangge.events.enums import EventAction as A

    logs = EventLog.objects.filter(
        event__in=_visible(actor), at__gte=timezone.now() - timedelta(days=days)
    )
    return logs.aggregate(
        resolved=Count("event", filter=Q(action=A.RESOLVE_ON_SPOT), distinct=True),
        passed=Count("id", filter=Q(action=A.SPOT_CHECK_PASS)),
        failed=Count("id", filter=Q(action=A.SPOT_CHECK_FAIL)),
    )
