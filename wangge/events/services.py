"""Writes of the closed loop: reporting (idempotent), every transition of the workflow table,
categories and dispatch rules.

``event_report`` is the one way an event comes in, whatever its source; ``event_transition`` is
the one way its state changes. Each runs in one transaction that locks the event row, writes
the event, its immutable log row, an audit row and the notices it causes (the outbox), so a
crash loses either all of it or nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from wangge.accounts.enums import Perm, Role
from wangge.accounts.models import Post, Unit
from wangge.accounts.rules import has_perm, require
from wangge.accounts.scope import SYSTEM, scope_for
from wangge.core import audit
from wangge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from wangge.events import workflow as W
from wangge.events.enums import (
    LEVEL_ORDER,
    EventAction,
    EventState,
    HandlingLevel,
    Notice,
    RejectReason,
    Source,
    Urgency,
)
from wangge.events.listeners import transition_heard
from wangge.events.models import Category, DispatchRule, Event, EventLog, Notification
from wangge.regions import codes as C
from wangge.regions.models import Grid

CATEGORIES_FILE = Path(__file__).parent / "data" / "categories.csv"


# --- categories ---------------------------------------------------------------------------------
def categories_install(*, actor, path: Path = CATEGORIES_FILE, update: bool = False) -> int:
    """Load the shipped taxonomy; existing categories keep the administrator's edits unless
    ``update``. Idempotent."""
    require(actor, Perm.PLACES_IMPORT)
    n = 0
    with transaction.atomic(), open(path, encoding="utf-8") as fh:
        by_code = {c.code: c for c in Category.objects.all()}
        for row in csv.DictReader(fh):
            values = {
                "name": row["name"],
                "name_en": row["name_en"],
                "unit_kind": row["unit_kind"],
                "parent": by_code.get(row["parent"]) if row["parent"] else None,
                "on_spot_allowed": row["on_spot"] == "1",
                "needs_after_photo": row["after_photo"] == "1",
                "auto_escalate": row["auto_escalate"] == "1",
            }
            for kind in ("response", "handle"):
                for u in Urgency.values:
                    values[f"{kind}_hours_{u}"] = float(row[f"{kind}_{u}"])
            existing = by_code.get(row["code"])
            if existing is None:
                by_code[row["code"]] = Category.objects.create(code=row["code"], **values)
                n += 1
            elif update:
                for k, v in values.items():
                    setattr(existing, k, v)
                existing.save()
    if n or update:
        audit.record(actor=actor, action="events.categories_install", details={"created": n})
        transaction.on_commit(categories_forget)
    return n


# --- deadlines ----------------------------------------------------------------------------------
def deadline_after(start: datetime, hours: float, urgency: str) -> datetime:
    """``hours`` after ``start``: working hours on the working calendar, but clock hours for
    emergencies (an emergency does not wait for Monday)."""
    from wangge.core import workcal

    if urgency == Urgency.EMERGENCY:
        return workcal.add_clock_time(start, hours=hours)
    return workcal.add_working_time(start, hours=hours)


# --- reporting ----------------------------------------------------------------------------------
_inflight: set[tuple[str, str]] = set()
_inflight_lock = threading.Lock()


def _payload_hash(payload: dict) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def _idem_scope(actor, source: str) -> str:
    if source == Source.HOTLINE:
        return "hotline"
    return f"post:{actor.pk}" if getattr(actor, "pk", None) else f"system:{source}"


def _try_claim(scope: str, key: str) -> bool:
    """Claim the key for this request for the rest of the transaction; False if another
    request holds it (still in flight)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [scope + key])
            return bool(cur.fetchone()[0])
    with _inflight_lock:
        if (scope, key) in _inflight:
            return False
        _inflight.add((scope, key))
        return True


def _release(scope: str, key: str) -> None:
    if connection.vendor != "postgresql":
        with _inflight_lock:
            _inflight.discard((scope, key))


def _number(now: datetime) -> str:
    """A readable, unique number: E + date + 48 random bits (no sequence table to contend on;
    at 50,000 reports a day two numbers of one day collide about once in 300 years, and a
    collision is retried with a new number rather than failing)."""
    import secrets

    return f"E{timezone.localtime(now):%Y%m%d}{secrets.token_hex(6).upper()}"


_categories: dict[str, tuple[float, Category | None]] = {}
CATEGORY_CACHE_SECONDS = 30.0


def _category(code: str) -> Category | None:
    """An active category by code, cached in the process for a few seconds (every report reads
    one; the taxonomy changes a few times a year). An administrator's edit reaches other
    processes within ``CATEGORY_CACHE_SECONDS``; this process forgets at once."""
    import time

    now = time.monotonic()
    hit = _categories.get(code)
    if hit is not None and now - hit[0] < CATEGORY_CACHE_SECONDS:
        return hit[1]
    cat = Category.objects.filter(code=code, is_active=True).first()
    if len(_categories) > 2000:
        _categories.clear()
    _categories[code] = (now, cat)
    return cat


def categories_forget() -> None:
    _categories.clear()


def report_check(actor, source: Source) -> None:
    """May this post report with this source? Workers' sources need a post that sees places;
    12345 orders come from the hotline import or a dispatcher typing one in; sensors and cameras
    only through the device pipeline (the system)."""
    if actor is SYSTEM:
        return
    role = getattr(actor, "role", None)
    if source in (Source.SENSOR, Source.CAMERA):
        raise PermissionDenied(_("Only devices report as sensors or cameras."))
    if source == Source.HOTLINE and role not in W.DISPATCHER_ROLE.values():
        raise PermissionDenied(_("Only a dispatcher enters 12345 work orders."))
    if source in (Source.PATROL, Source.DISPATCHER, Source.CAMPAIGN):
        if not has_perm(actor, Perm.PLACES_VIEW) or role == Role.RESIDENT:
            raise PermissionDenied(_("Your post may not report events."))


def event_report(
    *,
    actor,
    source: str,
    category: str,
    title: str,
    description: str = "",
    urgency: str = Urgency.NORMAL,
    lon: float | None = None,
    lat: float | None = None,
    grid_code: str = "",
    address: str = "",
    reporter_name: str = "",
    external_ref: str = "",
    key: str = "",
    at: datetime | None = None,
    photos=None,
    request=None,
) -> tuple[Event, bool]:
    """Report an event. Returns ``(event, created)``. With a ``key``: the same key and payload
    return the first event (created False); the same key with another payload is refused (422);
    a key whose first request is still running answers 409."""
    source = _choice(Source, source, "source")
    urgency = _choice(Urgency, urgency, "urgency")
    report_check(actor, source)
    cat = _category((category or "").strip())
    if cat is None or cat.parent_id is None:
        raise ValidationError(
            _("Choose a small category (小类)."),
            code="invalid_category",
            details={"fields": {"category": _("unknown category")}},
        )
    title = (title or "").strip()
    if not title:
        raise ValidationError(
            _("A title is required."),
            code="title_required",
            details={"fields": {"title": _("required")}},
        )
    from wangge.events.photos import photos_clean

    cleaned = photos_clean(photos)  # before anything is written: a bad photo stores nothing
    payload = {
        "photos": sorted(c.sha256 for c in cleaned),
        "source": source.value,
        "category": cat.code,
        "title": title,
        "description": description or "",
        "urgency": urgency.value,
        "lon": lon,
        "lat": lat,
        "grid_code": grid_code or "",
        "address": address or "",
        "external_ref": external_ref or "",
    }
    if reporter_name:
        payload["reporter_name"] = reporter_name.strip()
    key = (key or "").strip()[:100]
    scope_key = _idem_scope(actor, source) if key else ""
    for attempt in range(3):
        try:
            return _report_once(actor, cat, payload, scope_key, key, at, request, cleaned)
        except IntegrityError:
            # Another process created the same key between our lookup and insert (SQLite has
            # no cross-process claim), or two numbers collided: the transaction rolled back
            # whole; look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _report_once(actor, cat, payload, scope_key, key, at, request, cleaned) -> tuple[Event, bool]:
    if not key:
        with transaction.atomic():
            return _create(actor, cat, payload, "", "", at, request, cleaned), True
    with transaction.atomic():
        if not _try_claim(scope_key, key):
            raise Conflict(
                _("A request with this key is still being processed; try again shortly."),
                code="in_flight",
            )
        try:
            found = (
                Event.objects.filter(idem_scope=scope_key, idem_key=key)
                .exclude(idem_key="")  # the unique index is partial: its condition lets it serve
                .first()
            )
            if found is not None:
                return _same_payload(found, payload), False
            return _create(actor, cat, payload, scope_key, key, at, request, cleaned), True
        finally:
            _release(scope_key, key)


def _same_payload(found: Event, payload: dict) -> Event:
    if found.idem_hash != _payload_hash(payload):
        raise ValidationError(
            _("This key was already used for a different report."), code="key_reused"
        )
    return found


def _choice(enum, value, name):
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(
            _("Unknown %(name)s: %(value)s.") % {"name": name, "value": value},
            code=f"invalid_{name}",
            details={"fields": {name: _("unknown value")}},
        ) from None


def _locate(actor, lon, lat, grid_code) -> tuple[str, float | None, float | None]:
    """The grid of the event: by the point (the locator), else the grid chosen by hand."""
    from wangge.regions.locator import get_locator

    if lon is not None and lat is not None:
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError):
            raise ValidationError(
                _("The location is not a number."), code="invalid_point"
            ) from None
        hit = get_locator().locate(lon, lat)
        if hit is None:
            if not grid_code:
                raise ValidationError(
                    _("The point is not inside any grid; choose the grid by hand."),
                    code="outside_grids",
                    details={"fields": {"lon": _("outside every grid")}},
                )
        else:
            return hit.code, lon, lat  # the locator knows only grids that exist
    grid_code = C.normalize(grid_code or "")
    if not grid_code:
        raise ValidationError(
            _("Give the location or choose the grid."),
            code="location_required",
            details={"fields": {"grid_code": _("required")}},
        )
    if not Grid.objects.filter(code=grid_code).exists():
        raise ValidationError(
            _("No grid has the code %(code)s.") % {"code": grid_code},
            code="unknown_grid",
            details={"fields": {"grid_code": _("unknown grid")}},
        )
    # A report belongs to the grid of the place, wherever the reporter works (a worker passing
    # by reports what they see); it is the place's dispatcher who handles it.
    return grid_code, lon, lat


def _reporter_name(actor, given: str) -> str:
    """Who reported: the name given (a hotline caller, a resident at the counter), else the
    reporting account's full name."""
    given = (given or "").strip()
    if given:
        return given[:60]
    user = getattr(actor, "user", None)
    return ((user.get_full_name() if user is not None else "") or "")[:60]


def _create(actor, cat, payload, scope_key, key, at, request, cleaned=()) -> Event:
    grid_code, lon, lat = _locate(actor, payload["lon"], payload["lat"], payload["grid_code"])
    now = at or timezone.now()
    e = Event(
        number=_number(now),
        category=cat,
        title=payload["title"][:120],
        description=payload["description"],
        urgency=payload["urgency"],
        source=payload["source"],
        grid_code=grid_code,
        lon=lon,
        lat=lat,
        address=payload["address"][:200],
        reporter=actor if isinstance(actor, Post) else None,
        reporter_name=_reporter_name(actor, payload.get("reporter_name", "")),
        external_ref=payload["external_ref"][:60],
        idem_scope=scope_key,
        idem_key=key,
        idem_hash=_payload_hash(payload) if key else "",
        state=EventState.REPORTED,
        level=HandlingLevel.COMMUNITY,
        reported_at=now,
    )
    resp_h, _handle_h = cat.limits(e.urgency)
    e.response_due = deadline_after(now, resp_h, e.urgency)
    e.save(force_insert=True)  # a clash of key or number rolls back the whole report: retried
    log = _log(e, EventAction.REPORT, "", e.state, actor, now, "", {"source": e.source})
    e.report_log, e.report_photos = log, []  # what the report wrote, for the answer
    if cleaned:
        from wangge.events.photos import photos_store

        e.report_photos = photos_store(e, list(cleaned), kind="before", log=log)
    _notify_dispatchers(e, Notice.NEW_WORK, _("New event %(n)s: %(t)s"))
    audit.record(
        actor=actor,
        action="events.report",
        obj=e,
        request=request,
        details={"number": e.number, "category": cat.code, "grid": grid_code},
    )
    return e


# --- transitions --------------------------------------------------------------------------------
def _log(e: Event, action, frm, to, actor, at, note="", data=None) -> EventLog:
    return EventLog.objects.create(
        event=e,
        action=action,
        from_state=frm,
        to_state=to,
        post=actor if isinstance(actor, Post) else None,
        at=at,
        note=note or "",
        data=data or {},
    )


def _notify(posts, kind, e: Event, text: str) -> None:
    """Notices to posts (or post ids), in the caller's transaction: the outbox."""
    Notification.objects.bulk_create(
        [
            Notification(post_id=getattr(p, "pk", p), kind=kind, event=e, text=text[:300])
            for p in posts
        ]
    )


def dispatcher_posts(e: Event) -> list[Post]:
    role = W.DISPATCHER_ROLE[HandlingLevel(e.level)]
    return list(
        Post.objects.filter(
            role=role, is_active=True, place_code=W.handling_code(e.grid_code, e.level)
        )
    )


def grid_posts(e: Event) -> list[Post]:
    codes = [e.grid_code[:n] for n in (15, 18) if len(e.grid_code) >= n]
    return list(Post.objects.filter(role__in=W.GRID_ROLES, is_active=True, place_code__in=codes))


def unit_posts(e: Event) -> list[Post]:
    if not e.unit_id:
        return []
    return list(Post.objects.filter(role=Role.UNIT_HANDLER, is_active=True, unit_id=e.unit_id))


def _notify_dispatchers(e: Event, kind, template: str) -> None:
    role = W.DISPATCHER_ROLE[HandlingLevel(e.level)]
    ids = Post.objects.filter(
        role=role, is_active=True, place_code=W.handling_code(e.grid_code, e.level)
    ).values_list("id", flat=True)
    _notify(list(ids), kind, e, template % {"n": e.number, "t": e.title})


class IllegalAction(Conflict):
    code = "illegal_action"


def event_get_for_update(event_id) -> Event:
    e = Event.objects.select_for_update().filter(pk=event_id).first()
    if e is None:
        raise NotFound(_("No such event."))
    return e


def event_transition(
    *,
    actor,
    event: Event,
    action: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    photos=None,
    request=None,
) -> Event:
    """Take one action on an event, as the workflow table allows. Locks the event row, so two
    dispatchers accepting at once end with exactly one acceptance (the other gets 409)."""
    from wangge.events.photos import photos_clean, photos_store

    data = dict(data or {})
    action = _choice(EventAction, action, "action")
    note = (note or "").strip()
    cleaned = photos_clean(photos, already=event.photos.count()) if photos else []
    data["_photos"] = len(cleaned)
    with transaction.atomic():
        e = event_get_for_update(event.pk)
        if actor is not SYSTEM and not scope_for(actor).covers(e.grid_code):
            if not (actor.role == Role.UNIT_HANDLER and actor.unit_id == e.unit_id):
                raise NotFound(_("No such event."))
        t = W.transition_for(e.state, action)
        kinds = W.actor_kinds(actor, e)
        if t is None or not (kinds & t.actors) or not W.guard_ok(t, e, kinds):
            raise IllegalAction(
                _("%(action)s is not possible now: the event is %(state)s.")
                % {"action": action.label, "state": EventState(e.state).label},
                details={
                    "state": e.state,
                    "allowed": [a.value for a in W.allowed_actions(actor, e)],
                },
            )
        for field in t.requires:
            if field == "note" and len(note) < 2:
                raise ValidationError(
                    _("Write a note for this action."),
                    code="note_required",
                    details={"fields": {"note": _("required")}},
                )
            if field != "note" and not data.get(field):
                raise ValidationError(
                    _("%(field)s is required for this action.") % {"field": field},
                    code=f"{field}_required",
                    details={"fields": {field: _("required")}},
                )
        now = at or timezone.now()
        frm = e.state
        logdata = _apply(actor, e, t, action, note, data, now)
        if t.target == W.SAME:
            pass
        elif t.target == W.PREVIOUS:
            e.state = e.suspended_from or EventState.ACCEPTED
            e.suspended_from = ""
        else:
            e.state = t.target
        e.save()
        log = _log(e, action, frm, e.state, actor, now, note, logdata)
        _score(e, action, frm, now)
        if cleaned:
            kind = (
                "after"
                if action in (EventAction.HANDLE, EventAction.RESOLVE_ON_SPOT)
                else "evidence"
            )
            photos_store(e, cleaned, kind=kind, log=log)
        audit.record(
            actor=actor,
            action=f"events.{action.value}",
            obj=e,
            request=request,
            details={"number": e.number, "from": frm, "to": e.state, **_auditable(logdata)},
        )
        transition_heard(event=e, action=action, frm=frm, to=e.state, at=now)
        after = _after(actor, e, action, now)
        e._log = log
    if after is not None:
        return after
    return e


def _score(e: Event, action, frm, now) -> None:
    """The points a worker's report earns (the points app keeps the rules, caps and ledger;
    a fact scores once however often this runs): valid when it leaves "reported" for
    "accepted" (accepted, or escalated unaccepted), resolved on the spot, or rejected."""
    from wangge.points import hooks

    if frm == EventState.REPORTED and e.state == EventState.ACCEPTED:
        hooks.on_event_accepted(e, now)
    elif action == EventAction.RESOLVE_ON_SPOT:
        hooks.on_event_resolved_on_spot(e, now)
    elif action == EventAction.REJECT:
        hooks.on_event_rejected(e, now)


def _auditable(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, str | int | float | bool | None)}


ESCALATED = gettext_noop("Escalated to you: %(t)s")


def _escalate(e: Event, now: datetime, due_cache: dict | None = None) -> dict:
    """Move the event one level up (in memory): the higher dispatcher takes it with a fresh
    response deadline. Returns what the log row records."""
    i = LEVEL_ORDER.index(HandlingLevel(e.level))
    if i + 1 >= len(LEVEL_ORDER):
        raise ValidationError(_("The city level cannot escalate further."), code="top_level")
    out: dict[str, Any] = {"from_level": e.level}
    e.level = LEVEL_ORDER[i + 1]
    out["to_level"] = e.level
    e.escalations += 1
    e.unit = None
    e.accepted_at = e.accepted_at or now
    old = (e.response_due, e.handle_due)
    hours = e.category.limits(e.urgency)[0]
    if due_cache is None:
        e.response_due = deadline_after(now, hours, e.urgency)
    else:
        k = (hours, e.urgency)
        if k not in due_cache:
            due_cache[k] = deadline_after(now, hours, e.urgency)
        e.response_due = due_cache[k]
    e.handle_due = None
    e.warned = e.overdue = False
    out.update(_deadline_change(old, e))
    return out


def _apply(actor, e: Event, t, action, note, data, now) -> dict:
    """The effects of an action beyond the state; returns what the log row records."""
    A = EventAction
    out: dict[str, Any] = {}
    if action == A.ACCEPT:
        e.accepted_at = now
    elif action == A.REJECT:
        out["reason"] = _choice(RejectReason, data["reason"], "reason").value
        e.closed_at = now
    elif action == A.MERGE:
        target = Event.objects.filter(pk=data["target"]).first()
        if target is None or target.pk == e.pk or target.state in (EventState.MERGED,):
            raise ValidationError(_("Choose an open event to merge into."), code="invalid_target")
        if not scope_for(actor).covers(target.grid_code):
            raise ValidationError(_("Choose an open event to merge into."), code="invalid_target")
        e.merged_into = target
        e.closed_at = now
        out["target"] = target.number
    elif action == A.DISPATCH:
        unit = _unit(data["unit"])
        e.unit = unit
        e.dispatched_at = now
        resp_h, handle_h = e.category.limits(e.urgency)
        old = (e.response_due, e.handle_due)
        e.response_due = deadline_after(now, resp_h, e.urgency)
        e.handle_due = deadline_after(now, handle_h, e.urgency)
        e.warned = e.overdue = False
        out.update(unit=unit.code, **_deadline_change(old, e))
        _notify(unit_posts(e), Notice.NEW_WORK, e, _("Dispatched to you: %(t)s") % {"t": e.title})
    elif action == A.ACKNOWLEDGE:
        e.acknowledged_at = now
    elif action == A.RETURN:
        out["unit"] = e.unit.code if e.unit_id else ""
        e.unit = None
        e.response_due = deadline_after(now, e.category.limits(e.urgency)[0], e.urgency)
        e.handle_due = None
        _notify_dispatchers(e, Notice.RETURNED, _("Returned by the unit: %(t)s"))
    elif action == A.HANDLE:
        if e.category.needs_after_photo and not data.get("_photos"):
            raise ValidationError(
                _("This category needs an 'after' photo to close."),
                code="photo_required",
                details={"fields": {"photos": _("required")}},
            )
        e.handled_at = now
        _notify(
            grid_posts(e) or dispatcher_posts(e),
            Notice.VERIFY,
            e,
            _("Handled, please verify: %(t)s") % {"t": e.title},
        )
    elif action == A.VERIFY_PASS:
        e.closed_at = now
        e.closed_on_time = e.handle_due is None or now <= e.handle_due
    elif action == A.VERIFY_FAIL:
        e.rework_count += 1
        e.handled_at = None
        e.acknowledged_at = None
        _notify(unit_posts(e), Notice.REWORK, e, _("Sent back for rework: %(t)s") % {"t": e.title})
    elif action == A.ESCALATE:
        out.update(_escalate(e, now))
        _notify_dispatchers(e, Notice.NEW_WORK, _(ESCALATED))
    elif action == A.REQUEST_EXTENSION:
        hours = _positive(data["hours"], "hours")
        e.extension_hours = hours
        e.extension_reason = note[:300]
        out["hours"] = hours
        _notify_dispatchers(e, Notice.NEW_WORK, _("More time asked for: %(t)s"))
    elif action in (A.APPROVE_EXTENSION, A.DENY_EXTENSION):
        if not e.extension_hours:
            raise ValidationError(_("No extension was asked for."), code="no_extension")
        out["hours"] = e.extension_hours
        if action == A.APPROVE_EXTENSION:
            old = (e.response_due, e.handle_due)
            base = max(e.handle_due or now, now) if e.handle_due else now
            e.handle_due = deadline_after(base, e.extension_hours, e.urgency)
            e.overdue = e.warned = False
            out.update(_deadline_change(old, e))
        e.extension_hours = 0
        e.extension_reason = ""
    elif action == A.SUSPEND:
        review = data["review_date"]
        if isinstance(review, str):
            try:
                review = date.fromisoformat(review)
            except ValueError:
                raise ValidationError(
                    _("The review date is not a date."), code="invalid_date"
                ) from None
        e.suspended_from = e.state
        e.review_date = review
        out["review_date"] = review.isoformat()
        out["suspended_at"] = now.isoformat()
    elif action == A.RESUME:
        last = e.log.filter(action=A.SUSPEND).order_by("-at", "-id").first()
        if last is not None:
            hours = (now - last.at).total_seconds() / 3600
            e.suspended_hours += hours
            old = (e.response_due, e.handle_due)
            shift = now - last.at
            e.response_due = e.response_due + shift if e.response_due else None
            e.handle_due = e.handle_due + shift if e.handle_due else None
            out.update(_deadline_change(old, e))
        e.review_date = None
    elif action == A.SUPERVISE:
        e.supervised = True
        e.supervise_note = note[:300]
        _notify(
            dispatcher_posts(e) + unit_posts(e),
            Notice.SUPERVISED,
            e,
            _("Supervised: %(t)s — %(note)s") % {"t": e.title, "note": note},
        )
    elif action == A.RESOLVE_ON_SPOT:
        if e.category.needs_after_photo and not data.get("_photos"):
            raise ValidationError(
                _("Add an 'after' photo of the place put right."),
                code="photo_required",
                details={"fields": {"photos": _("required")}},
            )
        if not e.category.on_spot_allowed:
            raise ValidationError(
                _("This category cannot be resolved on the spot."), code="not_on_spot"
            )
        if e.reporter_id != getattr(actor, "pk", None):
            raise PermissionDenied(_("Only the reporter resolves their own report on the spot."))
        e.on_spot = True
        e.accepted_at = e.dispatched_at = e.handled_at = e.closed_at = now
        e.closed_on_time = True
    elif action in (A.SPOT_CHECK_PASS, A.SPOT_CHECK_FAIL):
        if not e.on_spot:
            raise IllegalAction(
                _("Only events resolved on the spot are spot-checked."),
                details={"state": e.state, "allowed": []},
            )
        if e.log.filter(action__in=(A.SPOT_CHECK_PASS, A.SPOT_CHECK_FAIL)).exists():
            raise IllegalAction(
                _("This event was already spot-checked."), details={"state": e.state, "allowed": []}
            )
        if action == A.SPOT_CHECK_FAIL:
            e.rework_count += 1
            e.closed_at = None
            e.closed_on_time = None
            e.on_spot = False
            e.response_due = deadline_after(now, e.category.limits(e.urgency)[0], e.urgency)
    _warn_at(e)
    return out


def _after(actor, e: Event, action, now) -> Event | None:
    """Follow-ups inside the same transaction: automatic dispatch on acceptance."""
    if action == EventAction.ACCEPT:
        units = dispatch_candidates(e)
        if len(units) == 1:
            return event_transition(
                actor=SYSTEM,
                event=e,
                action=EventAction.DISPATCH,
                data={"unit": units[0].pk},
                at=now,
            )
    return None


def _deadline_change(old, e: Event) -> dict:
    def iso(d):
        return d.isoformat() if d else None

    return {
        "response_due_before": iso(old[0]),
        "response_due": iso(e.response_due),
        "handle_due_before": iso(old[1]),
        "handle_due": iso(e.handle_due),
    }


def _positive(value, name) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = 0
    if v <= 0 or v > 24 * 365:
        raise ValidationError(
            _("%(name)s must be a positive number.") % {"name": name}, code=f"invalid_{name}"
        )
    return v


def _unit(value) -> Unit:
    unit = Unit.objects.filter(pk=value, is_active=True).first() if str(value).isdigit() else None
    if unit is None:
        unit = Unit.objects.filter(code=str(value), is_active=True).first()
    if unit is None:
        raise ValidationError(_("No such unit."), code="invalid_unit")
    return unit


# --- dispatch rules -----------------------------------------------------------------------------
def dispatch_candidates(e: Event) -> list[Unit]:
    """Units for the event, most specific rule first: explicit rules (longest region code, small
    category over major over any), else units of the category's kind serving the grid (the
    most specific region). Several units at the top → the dispatcher picks."""
    cats = [e.category_id, e.category.parent_id, None]
    codes = C.ancestor_codes(e.grid_code) + [e.grid_code]
    rules = list(
        DispatchRule.objects.filter(region_code__in=codes, unit__is_active=True).filter(
            category_id__in=[c for c in cats if c]
        )
        | DispatchRule.objects.filter(
            region_code__in=codes, unit__is_active=True, category__isnull=True
        )
    )
    if rules:

        def rank(r):
            return (len(r.region_code), 2 - cats.index(r.category_id))

        best = max(rank(r) for r in rules)
        return _units({r.unit_id for r in rules if rank(r) == best})
    kind = e.category.unit_kind or (e.category.parent.unit_kind if e.category.parent_id else "")
    if not kind:
        return []
    units = [
        u
        for u in Unit.objects.filter(kind=kind, is_active=True)
        if u.region_code and e.grid_code.startswith(u.region_code)
    ]
    if not units:
        return []
    longest = max(len(u.region_code) for u in units)
    return [u for u in units if len(u.region_code) == longest]


def _units(ids) -> list[Unit]:
    return list(Unit.objects.filter(pk__in=ids).order_by("code"))


@transaction.atomic
def dispatch_rule_set(*, actor, category: str | None, region_code: str, unit: str) -> DispatchRule:
    require(actor, Perm.PLACES_IMPORT)
    cat = Category.objects.filter(code=category).first() if category else None
    if category and cat is None:
        raise ValidationError(_("Unknown category."), code="invalid_category")
    rule, _created = DispatchRule.objects.get_or_create(
        category=cat, region_code=C.normalize(region_code), unit=_unit(unit)
    )
    audit.record(actor=actor, action="events.dispatch_rule", obj=rule, details={"unit": unit})
    return rule


def notifications_read(*, actor, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(post=actor, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


# --- the deadline sweep -------------------------------------------------------------------------
WARN_SHARE = 0.8


def _warn_at(e: Event) -> None:
    """When the deadline warning is due: after 80 % of the time from dispatch to the deadline."""
    if e.handle_due and e.dispatched_at:
        e.warn_at = e.dispatched_at + (e.handle_due - e.dispatched_at) * WARN_SHARE
    else:
        e.warn_at = None


class _Recipients:
    """Posts to notify, looked up once per place and unit during a sweep: the unit's handlers,
    and with ``dispatchers`` the handling level's dispatchers too."""

    def __init__(self, *, dispatchers: bool) -> None:
        self.dispatchers = dispatchers
        self.cache: dict = {}

    def __call__(self, e: Event) -> list[int]:
        place = W.handling_code(e.grid_code, e.level) if self.dispatchers else ""
        k = (e.level, place, e.unit_id)
        if k not in self.cache:
            posts = unit_posts(e) + (dispatcher_posts(e) if self.dispatchers else [])
            self.cache[k] = [p.pk for p in posts]
        return self.cache[k]


def deadlines_sweep(*, now: datetime | None = None, batch: int = 5000) -> dict[str, int]:
    """Warn about events near their handling deadline (``warn_at``: 80 % of the limit used),
    mark overdue ones, notify, and escalate overdue events whose category says so.

    Idempotent: flags on the row say what was done, and each batch commits on its own (log rows,
    notices and flags together), so a sweep killed half-way and run again finishes the work
    without doing any of it twice. Rows locked by a running transition are skipped this time."""
    now = now or timezone.now()
    counts = {"warned": 0, "overdue": 0, "escalated": 0}
    active = (EventState.DISPATCHED, EventState.ACKNOWLEDGED)
    to = _Recipients(dispatchers=True)
    near = _Recipients(dispatchers=False)
    while True:
        with transaction.atomic():
            rows = list(
                Event.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state__in=active, overdue=False, handle_due__lt=now)
                .select_related("category")
                .order_by("handle_due")[:batch]
            )
            if not rows:
                break
            logs, notes = [], []
            for e in rows:
                e.overdue = e.warned = True
                logs.append(_log_row(e, EventAction.OVERDUE, now, e.handle_due))
                text = (_("Overdue: %(t)s") % {"t": e.title})[:300]
                notes += [
                    Notification(post_id=p, kind=Notice.OVERDUE, event=e, text=text) for p in to(e)
                ]
            # One UPDATE by key (bulk_update's CASE over thousands of rows is slow).
            Event.objects.filter(pk__in=[e.pk for e in rows]).update(overdue=True, warned=True)
            EventLog.objects.bulk_create(logs)
            Notification.objects.bulk_create(notes)
            counts["overdue"] += len(rows)
            counts["escalated"] += _escalate_many(
                [e for e in rows if e.category.auto_escalate and e.level != HandlingLevel.CITY],
                now,
                to,
            )
    while True:
        with transaction.atomic():
            rows = list(
                Event.objects.select_for_update(skip_locked=True)
                .filter(state__in=active, warned=False, warn_at__lte=now)
                .order_by("warn_at")[:batch]
            )
            if not rows:
                break
            logs, notes = [], []
            for e in rows:
                e.warned = True
                logs.append(_log_row(e, EventAction.WARN, now, e.handle_due))
                text = (_("Deadline near: %(t)s") % {"t": e.title})[:300]
                notes += [
                    Notification(post_id=p, kind=Notice.DEADLINE_NEAR, event=e, text=text)
                    for p in near(e)
                ]
            Event.objects.filter(pk__in=[e.pk for e in rows]).update(warned=True)
            EventLog.objects.bulk_create(logs)
            Notification.objects.bulk_create(notes)
            counts["warned"] += len(rows)
    return counts


def _escalate_many(rows: list[Event], now: datetime, to: _Recipients) -> int:
    """For each event, what ``event_transition(actor=SYSTEM, action=ESCALATE)`` writes — the
    event's new level and deadlines, its log row, the higher dispatchers' notices and the audit
    row — for a sweep's batch at once: a few statements instead of eight per event. The rows
    are locked by the caller's transaction. ``tests/events/test_services.py`` proves the rows
    equal to those of the single path."""
    note = _("Overdue: escalated automatically.")
    text = _(ESCALATED)
    due_cache: dict = {}
    groups: dict[tuple, list[int]] = {}
    logs, notes, audits = [], [], []
    for e in rows:
        t = W.transition_for(e.state, EventAction.ESCALATE)
        if t is None or W.Actor.SYSTEM not in t.actors or not W.guard_ok(t, e, {W.Actor.SYSTEM}):
            continue
        frm = e.state
        logdata = _escalate(e, now, due_cache)
        _warn_at(e)
        e.state = t.target
        groups.setdefault((e.level, e.response_due), []).append(e.pk)
        logs.append(
            EventLog(
                event=e,
                action=EventAction.ESCALATE,
                from_state=frm,
                to_state=e.state,
                at=now,
                note=note,
                data=logdata,
            )
        )
        msg = (text % {"n": e.number, "t": e.title})[:300]
        notes += [Notification(post_id=p, kind=Notice.NEW_WORK, event=e, text=msg) for p in to(e)]
        details = {"number": e.number, "from": frm, "to": e.state, **_auditable(logdata)}
        audits.append((e.pk, details))
    touched = timezone.now()
    for (level, due), ids in groups.items():
        Event.objects.filter(pk__in=ids).update(
            state=EventState.ACCEPTED,
            level=level,
            escalations=F("escalations") + 1,
            unit=None,
            accepted_at=Coalesce(F("accepted_at"), now),
            response_due=due,
            handle_due=None,
            warn_at=None,
            warned=False,
            overdue=False,
            updated_at=touched,
        )
    EventLog.objects.bulk_create(logs)
    Notification.objects.bulk_create(notes)
    audit.record_many(
        actor=SYSTEM,
        action=f"events.{EventAction.ESCALATE.value}",
        object_type=Event._meta.label_lower,
        objects=audits,
    )
    return len(logs)


def _log_row(e: Event, action, now, due) -> EventLog:
    return EventLog(
        event=e,
        action=action,
        from_state=e.state,
        to_state=e.state,
        at=now,
        data={"handle_due": due.isoformat() if due else None},
    )
