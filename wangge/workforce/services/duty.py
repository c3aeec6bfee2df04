"""Writes of duty: checking in and out (with the phone's position) and the patrol route.

A worker checks in through the post of one of their assignments: the session belongs to that
place. The position is compared with the place's boundary: farther outside than
``WANGGE_DUTY_FAR_METERS`` is allowed but flagged (``start_far`` / ``end_far``). A phone that
is offline retries safely: a check-in carries a client key (the same key returns the same
session) and each batch of patrol points carries its own (a retried batch is the batch already
written; the same key with other points is refused), and a check-out of a session already
closed returns it as it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.core import audit
from wangge.core.errors import Conflict, NotFound, ValidationError
from wangge.regions.geometry import distance_outside_km, from_geojson_text
from wangge.regions.locator import LocateError, get_locator, parse_point
from wangge.regions.models import Grid, Region
from wangge.workforce.enums import WorkerStatus
from wangge.workforce.models import Assignment, DutySession, PatrolBatch, PatrolPoint, Worker

MAX_POINTS = 500  # points in one batch
CLOCK_SLACK = timedelta(minutes=10)  # a phone's clock may be a little off
KEY_MAX = 64


def _worker_of(actor) -> Worker:
    """The worker acting through this post, or ``NotFound`` (a post of someone who is not on
    the roster has no duty)."""
    require(actor, Perm.DUTY_CHECKIN)
    worker = Worker.objects.filter(user_id=getattr(actor, "user_id", None)).first()
    if worker is None:
        raise NotFound(_("You are not on the roster of grid workers."), code="not_a_worker")
    return worker


def _place_of(actor, worker: Worker) -> str:
    """The place of the acting post, which must be one of the worker's open assignments."""
    code = actor.place_code
    if not Assignment.objects.filter(
        worker=worker, place_code=code, post_id=actor.pk, ended_at__isnull=True
    ).exists():
        raise NotFound(_("Your active post has no assignment to check in to."), code="not_assigned")
    return code


def _key(key: str) -> str:
    key = (key or "").strip()
    if len(key) > KEY_MAX:
        raise ValidationError(
            _("A key has at most %(n)d characters.") % {"n": KEY_MAX}, code="invalid_key"
        )
    return key


@dataclass(frozen=True)
class Position:
    lon: float
    lat: float
    accuracy: float | None = None


def position(lon, lat, accuracy=None) -> Position | None:
    """A checked position (``None`` when the phone gave none); ``ValidationError`` for
    coordinates that are not numbers or lie far outside the city."""
    if lon in (None, "") and lat in (None, ""):
        return None
    if lon in (None, "") or lat in (None, ""):
        raise ValidationError(
            _("Give both longitude and latitude, or neither."),
            code="invalid_point",
            details={"fields": {"lon": _("give both or neither")}},
        )
    lon, lat = parse_point(lon, lat)
    try:
        get_locator().locate(lon, lat)  # refuses points far outside the city, with the reason
    except LocateError as exc:
        raise ValidationError(
            exc.message, code="invalid_point", details={"fields": {"lon": exc.message}}
        ) from None
    acc = None
    if accuracy not in (None, ""):
        try:
            acc = max(0.0, float(accuracy))
        except (TypeError, ValueError):
            raise ValidationError(
                _("The accuracy is not a number."), code="invalid_point"
            ) from None
    return Position(lon, lat, acc)


def distance_outside_m(code: str, pos: Position) -> float | None:
    """Metres between the point and the place's boundary (0 inside); None without a
    boundary on record."""
    model = Grid if len(code) >= 15 else Region
    text = model.objects.filter(code=code).values_list("geometry", flat=True).first()
    if not text:
        return None
    return round(1000.0 * distance_outside_km(from_geojson_text(text), pos.lon, pos.lat), 1)


def is_far(distance_m: float | None) -> bool:
    return distance_m is not None and distance_m > settings.WANGGE_DUTY_FAR_METERS


@transaction.atomic
def duty_check_in(
    *, actor, lon=None, lat=None, accuracy=None, key: str = ""
) -> tuple[DutySession, bool]:
    """Start duty on the acting post's place; ``(session, created)``. The same key returns
    the session it started; a worker already on duty elsewhere checks out first (409)."""
    worker = _worker_of(actor)
    key = _key(key)
    if key:
        done = DutySession.objects.filter(worker=worker, key=key).first()
        if done is not None:
            return done, False
    if worker.status != WorkerStatus.ACTIVE:
        raise ValidationError(
            _("You are registered as %(status)s: check-in is for workers at work.")
            % {"status": WorkerStatus(worker.status).label},
            code="worker_not_active",
        )
    code = _place_of(actor, worker)
    pos = position(lon, lat, accuracy)
    Worker.objects.select_for_update().filter(pk=worker.pk).first()  # one check-in at a time
    current = DutySession.objects.filter(worker=worker, ended_at__isnull=True).first()
    if current is not None:
        raise Conflict(
            _("You are on duty since %(t)s: check out first.")
            % {"t": timezone.localtime(current.started_at).strftime("%Y-%m-%d %H:%M")},
            code="on_duty",
            details={"session": current.pk},
        )
    dist = distance_outside_m(code, pos) if pos else None
    try:
        with transaction.atomic():
            s = DutySession.objects.create(
                worker=worker,
                post=actor,
                place_code=code,
                key=key,
                started_at=timezone.now(),
                start_lon=pos.lon if pos else None,
                start_lat=pos.lat if pos else None,
                start_accuracy=pos.accuracy if pos else None,
                start_distance_m=dist,
                start_far=is_far(dist),
            )
    except IntegrityError:  # the same key, or another check-in, at the same moment
        s = DutySession.objects.filter(worker=worker, key=key).first() if key else None
        if s is None:
            raise Conflict(_("You are already on duty: check out first."), code="on_duty") from None
        return s, False
    audit.record(
        actor=actor,
        action="duty.check_in",
        obj=s,
        details={"place": code, "distance_m": dist, "far": s.start_far},
    )
    return s, True


@transaction.atomic
def duty_check_out(
    *, actor, session: DutySession, lon=None, lat=None, accuracy=None
) -> DutySession:
    """End the session (one's own); a session already ended is returned as it is."""
    worker = _worker_of(actor)
    s = DutySession.objects.select_for_update().filter(pk=session.pk, worker=worker).first()
    if s is None:
        raise NotFound(_("No such duty session."))
    if s.ended_at is not None:
        return s
    pos = position(lon, lat, accuracy)
    dist = distance_outside_m(s.place_code, pos) if pos else None
    s.ended_at = timezone.now()
    s.end_lon, s.end_lat = (pos.lon, pos.lat) if pos else (None, None)
    s.end_accuracy = pos.accuracy if pos else None
    s.end_distance_m = dist
    s.end_far = is_far(dist)
    s.save()
    audit.record(
        actor=actor,
        action="duty.check_out",
        obj=s,
        details={"place": s.place_code, "distance_m": dist, "far": s.end_far},
    )
    return s


def _points(points: list[dict]) -> tuple[list[tuple[datetime, float, float, float | None]], int]:
    """The batch's points, and how many of them lie far outside the city (a GPS glitch: not
    kept, so that the batch is not refused for ever). A point that is not a point at all (no
    time, no numbers) refuses the batch: that is a fault of the client."""
    if not isinstance(points, list) or not points:
        raise ValidationError(_("Send at least one point."), code="no_points")
    if len(points) > MAX_POINTS:
        raise ValidationError(
            _("At most %(n)d points in one batch.") % {"n": MAX_POINTS}, code="too_many_points"
        )
    out, glitches = [], 0
    locator = get_locator()
    for i, p in enumerate(points):
        p = p if isinstance(p, dict) else {}
        at = p.get("at")
        at = at if isinstance(at, datetime) else parse_datetime(str(at or ""))
        if at is None:
            raise ValidationError(
                _("Point %(i)d: the time is written like 2026-05-01T09:30:00+08:00.") % {"i": i},
                code="invalid_point",
            )
        if timezone.is_naive(at):
            at = timezone.make_aware(at)
        if p.get("lon") in (None, "") or p.get("lat") in (None, ""):
            raise ValidationError(
                _("Point %(i)d has no coordinates.") % {"i": i}, code="invalid_point"
            )
        lon, lat = parse_point(p.get("lon"), p.get("lat"))
        try:
            locator.locate(lon, lat)
        except LocateError:
            glitches += 1
            continue
        acc = p.get("accuracy")
        try:
            acc = None if acc in (None, "") else max(0.0, float(acc))
        except (TypeError, ValueError):
            acc = None
        out.append((at, lon, lat, acc))
    return out, glitches


def _payload_hash(points) -> str:
    text = json.dumps(
        [[at.isoformat(), round(lon, 7), round(lat, 7), acc] for at, lon, lat, acc in points],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


@transaction.atomic
def patrol_record(
    *, actor, session: DutySession, key: str, points: list[dict]
) -> tuple[PatrolBatch, bool]:
    """Add a batch of timestamped points to one's own session; ``(batch, created)``. Points
    outside the session's time (with ``CLOCK_SLACK``) are not kept and counted as ignored, so a
    phone that sends its route after checking out loses nothing it recorded on duty."""
    worker = _worker_of(actor)
    key = _key(key)
    if not key:
        raise ValidationError(_("A batch needs its key."), code="invalid_key")
    s = DutySession.objects.select_for_update().filter(pk=session.pk, worker=worker).first()
    if s is None:
        raise NotFound(_("No such duty session."))
    parsed, glitches = _points(points)
    digest = _payload_hash(parsed)
    done = PatrolBatch.objects.filter(session=s, key=key).first()
    if done is not None:
        if done.payload_hash != digest:
            raise Conflict(
                _("This batch key was used for other points."),
                code="key_reused",
                details={"batch": done.pk},
            )
        return done, False
    start = s.started_at - CLOCK_SLACK
    end = (s.ended_at or timezone.now()) + CLOCK_SLACK
    kept = [p for p in parsed if start <= p[0] <= end]
    batch = PatrolBatch.objects.create(
        session=s,
        key=key,
        payload_hash=digest,
        points=len(kept),
        ignored=len(parsed) - len(kept) + glitches,
    )
    PatrolPoint.objects.bulk_create(
        PatrolPoint(session=s, batch=batch, at=at, lon=lon, lat=lat, accuracy=acc)
        for at, lon, lat, acc in kept
    )
    DutySession.objects.filter(pk=s.pk).update(points=s.points + len(kept))
    audit.record(
        actor=actor,
        action="duty.patrol",
        obj=batch,
        details={"session": s.pk, "points": len(kept), "ignored": batch.ignored},
    )
    return batch, True
