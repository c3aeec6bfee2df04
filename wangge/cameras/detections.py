"""What frames do: the detection intake (idempotent per camera and frame id), the rule engine
acting on zones, episodes opening and closing events, and the periodic sweep.

One frame is one transaction that locks its camera's row (frames of one camera are evaluated
one at a time, in the order they arrive; a frame older than the last one evaluated is stored
but changes nothing). For each active zone the frame is presence or not (``engine.Rule``) and
the zone's run moves on (``engine.step``):

- an occupied frame with the run at least the dwell long and no open episode → an **episode**
  opens ONE event through ``event_report`` (source camera, the frame's snapshot as its photo,
  key ``camera-episode-<id>`` so a retry never makes a second);
- a clear frame while the episode's event is *handled* and the frames have shown the zone
  clear for the clear window since it was handled → the platform verifies and closes it
  (``verify_pass``) and the episode ends; clear before anyone handled it is recorded on the
  episode (``cleared_at``) and the event stays with people;
- people closing, rejecting or merging the event end the episode (a transition listener), and
  the zone's run starts afresh, so a vehicle still there needs a full dwell to open a new case.

Snapshots are written only for frames that open or end an episode (and the first one a camera
sends, as its reference picture when it has none).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from wangge.accounts.scope import SYSTEM
from wangge.cameras import engine
from wangge.cameras.enums import TITLE, EpisodeEnd, EpisodeState, ZoneKind
from wangge.cameras.models import Camera, Detection, Episode, Zone
from wangge.cameras.services import _set_snapshot, snapshot_store
from wangge.core.errors import ApplicationError, ValidationError
from wangge.core.images import clean_photo
from wangge.events.enums import EventAction, EventState, Notice

logger = logging.getLogger("wangge.cameras")

MAX_OBJECTS = 500
MAX_FUTURE = timedelta(minutes=5)  # a box's clock ahead of ours by more is refused


def offline_after() -> timedelta:
    """Silence after which a camera counts as offline (and a gap between frames as unknown)."""
    return timedelta(minutes=float(getattr(settings, "WANGGE_CAMERA_OFFLINE_MINUTES", 15)))


def retention() -> timedelta:
    return timedelta(days=float(getattr(settings, "WANGGE_CAMERA_DETECTION_DAYS", 30)))


# --- input ----------------------------------------------------------------------------------------
def _bad(field: str, message: str, code: str = "invalid_detection") -> ValidationError:
    return ValidationError(message, code=code, details={"fields": {field: message}})


def clean_objects(objects) -> list[dict[str, Any]]:
    """The objects of a frame, checked: class, confidence 0..1, box ``[x1, y1, x2, y2]`` in
    normalised image coordinates with x1 ≤ x2 and y1 ≤ y2."""
    if not isinstance(objects, list):
        raise _bad("objects", _("A list of objects is required (empty: nothing seen)."))
    if len(objects) > MAX_OBJECTS:
        raise _bad("objects", _("At most %(n)d objects a frame.") % {"n": MAX_OBJECTS})
    out = []
    for i, o in enumerate(objects):
        where = f"objects[{i}]"
        if not isinstance(o, dict):
            raise _bad(where, _("Each object is {class, confidence, box}."))
        cls = o.get("class")
        if not isinstance(cls, str) or not cls.strip() or len(cls) > 40:
            raise _bad(f"{where}.class", _("A class name (1-40 characters) is required."))
        conf = o.get("confidence")
        if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0 <= conf <= 1:
            raise _bad(f"{where}.confidence", _("A confidence between 0 and 1 is required."))
        box = o.get("box")
        if (
            not isinstance(box, list | tuple)
            or len(box) != 4
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in box)
        ):
            raise _bad(f"{where}.box", _("A box is [x1, y1, x2, y2]."))
        x1, y1, x2, y2 = (float(v) for v in box)
        if not all(0 <= v <= 1 for v in (x1, y1, x2, y2)) or x1 > x2 or y1 > y2:
            raise _bad(
                f"{where}.box",
                _("Box corners are normalised (0..1), top-left first."),
            )
        out.append(
            {
                "class": cls.strip().lower(),
                "confidence": round(float(conf), 3),
                "box": [round(v, 4) for v in (x1, y1, x2, y2)],
            }
        )
    return out


def parse_time(value, *, now: datetime | None = None, future_ok: bool = False) -> datetime:
    if isinstance(value, datetime):
        at = value
    else:
        try:
            at = parse_datetime(str(value or ""))
        except ValueError:
            at = None
        if at is None:
            raise _bad("time", _("The time must be ISO-8601 (2026-11-29T10:15:00+08:00)."))
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if not future_ok and at > (now or timezone.now()) + MAX_FUTURE:
        raise _bad("time", _("The time lies in the future; check the device's clock."))
    return at


def decode_snapshot(value: str | None) -> bytes | None:
    """A base64 JPEG (or PNG/WebP) checked cheaply (size, format, header); cleaned only when
    kept."""
    if not value:
        return None
    limit = int(getattr(settings, "WANGGE_PHOTO_MAX_BYTES", 10 * 1024 * 1024))
    if len(value) > limit * 4 // 3 + 8:
        raise _bad("snapshot", _("The snapshot is too large."), "too_large")
    if value.startswith("data:"):
        value = value.split(",", 1)[-1]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("snapshot", _("The snapshot is not valid base64.")) from None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP"]) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _bad("snapshot", _("The snapshot is not a JPEG, PNG or WebP picture.")) from None
    return data


# --- the intake -----------------------------------------------------------------------------------
Snapshot = bytes | Callable[[], bytes | None] | None


@dataclass
class Outcome:
    detection: Detection
    created: bool
    present: list[int] = field(default_factory=list)
    opened: list[Episode] = field(default_factory=list)
    closed: list[Episode] = field(default_factory=list)


class _Frame:
    """The frame being evaluated, its snapshot read and cleaned at most once, when needed."""

    def __init__(self, det: Detection, snapshot: Snapshot) -> None:
        self.det, self._src, self._clean, self._done = det, snapshot, None, False

    def clean(self):
        if not self._done:
            self._done = True
            data = self._src() if callable(self._src) else self._src
            if data:
                try:
                    self._clean = clean_photo(data, filename="snapshot.jpg")
                except ValidationError as exc:
                    logger.warning("camera snapshot refused: %s", exc.message)
        return self._clean

    def keep(self) -> str:
        """Write the frame's snapshot (if any) and note it on the detection."""
        c = self.clean()
        if c is None:
            return ""
        if not self.det.snapshot:
            self.det.snapshot = snapshot_store(c)
            self.det.save(update_fields=["snapshot"])
        return self.det.snapshot


def detection_ingest(
    *,
    camera: Camera,
    frame_id: str,
    at,
    objects,
    snapshot: Snapshot = None,
    now: datetime | None = None,
    future_ok: bool = False,
) -> Outcome:
    """Take one analysed frame of ``camera``. The same ``frame_id`` again returns the first
    result (nothing evaluated twice). Bad input raises ``ValidationError`` before anything
    is stored."""
    frame_id = str(frame_id or "").strip()
    if not frame_id or len(frame_id) > 100:
        raise _bad("id", _("A frame id (1-100 characters) is required."))
    now = now or timezone.now()
    at = parse_time(at, now=now, future_ok=future_ok)
    objs = clean_objects(objects)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _ingest(camera, frame_id, at, objs, snapshot, now)
        except IntegrityError:
            if attempt:  # the same frame stored by a concurrent request: answer with it
                raise
    raise AssertionError("unreachable")


def _ingest(camera, frame_id, at, objs, snapshot, now) -> Outcome:
    cam = Camera.objects.select_for_update().get(pk=camera.pk)
    found = Detection.objects.filter(camera=cam, frame_id=frame_id).first()
    if found is not None:
        return Outcome(found, False, list(found.present))
    det = Detection.objects.create(camera=cam, frame_id=frame_id, at=at, received_at=now, seen=objs)
    frame = _Frame(det, snapshot)
    out = Outcome(det, True)
    fresh = cam.last_frame_at is None or at >= cam.last_frame_at
    if fresh:
        cam.last_frame_at = at
        cam.offline, cam.offline_since = False, None
        cam.save(update_fields=["last_frame_at", "offline", "offline_since"])
        if not cam.snapshot and snapshot is not None and frame.clean() is not None:
            _set_snapshot(cam, frame.clean())
        for zone in cam.zones.filter(active=True):
            _evaluate(cam, zone, frame, out)
    if out.present:
        det.present = out.present
        det.save(update_fields=["present"])
    return out


def _evaluate(cam: Camera, zone: Zone, frame: _Frame, out: Outcome) -> None:
    det = frame.det
    rule = engine.Rule.of(zone)
    present = rule.present(det.seen)
    s = engine.step(
        engine.ZoneRun.of(zone),
        det.at,
        present,
        dwell=timedelta(minutes=zone.dwell_minutes),
        clear=timedelta(minutes=zone.clear_minutes),
        max_gap=offline_after(),
    )
    if s.stale:
        return
    if present:
        out.present.append(zone.pk)
    zone.presence_since, zone.last_present_at = s.run.presence_since, s.run.last_present_at
    zone.clear_since, zone.last_frame_at = s.run.clear_since, s.run.last_frame_at
    zone.save(update_fields=["presence_since", "last_present_at", "clear_since", "last_frame_at"])
    if present and not s.dwell_reached:
        return  # nothing to open yet, nothing to close while occupied
    ep = Episode.objects.filter(zone=zone, state=EpisodeState.OPEN).select_related("event").first()
    if s.dwell_reached and ep is None:
        out.opened.append(_episode_open(cam, zone, frame, s.run))
        return
    if ep is None or present:
        return
    if s.ended and ep.cleared_at is None:
        ep.cleared_at = s.run.clear_since
        ep.save(update_fields=["cleared_at"])
    if episode_close_due(ep, zone, s.run):
        if _auto_close(ep, zone, det.at, frame):
            out.closed.append(ep)


def _episode_open(cam: Camera, zone: Zone, frame: _Frame, run: engine.ZoneRun) -> Episode:
    ep = Episode.objects.create(
        zone=zone,
        camera=cam,
        grid_code=cam.grid_code,
        started_at=run.presence_since,
        opened_at=frame.det.at,
        open_detection=frame.det,
        open_snapshot=frame.keep(),
    )
    _episode_report(ep, zone, cam, frame.clean())
    return ep


def _episode_report(ep: Episode, zone: Zone, cam: Camera, clean=None) -> None:
    """Open the episode's event (idempotent by its key). A refusal (say, the category was
    switched off) leaves the episode without an event: the sweep tries again."""
    from wangge.events.enums import Source
    from wangge.events.services import event_report

    title = TITLE[ZoneKind(zone.kind)].format(camera=cam.name, zone=zone.name)
    minutes = (ep.opened_at - ep.started_at).total_seconds() / 60
    description = _(
        'AI camera %(code)s saw the zone "%(zone)s" occupied since %(since)s (%(m)d minutes).'
    ) % {
        "code": cam.code,
        "zone": zone.name,
        "since": timezone.localtime(ep.started_at).strftime("%Y-%m-%d %H:%M"),
        "m": round(minutes),
    }
    try:
        with transaction.atomic():
            event, _created = event_report(
                actor=SYSTEM,
                source=Source.CAMERA,
                category=zone.category_code,
                title=title,
                description=description,
                urgency=zone.urgency,
                lon=cam.lon,
                lat=cam.lat,
                grid_code=cam.grid_code,
                address=cam.address,
                external_ref=cam.code[:60],
                key=f"camera-episode-{ep.pk}",
                at=ep.opened_at,
                photos=[clean.data] if clean is not None else None,
            )
    except ApplicationError as exc:
        logger.error("camera episode %s: event not reported: %s", ep.pk, exc.message)
        return
    ep.event = event
    ep.save(update_fields=["event"])


def episode_close_due(ep: Episode, zone: Zone, run: engine.ZoneRun) -> bool:
    """Handled, and the frames since show the zone clear for its clear window."""
    e = ep.event
    if e is None or e.state != EventState.HANDLED or e.handled_at is None:
        return False
    clear = engine.clear_after(run, e.handled_at)
    return clear is not None and clear >= timedelta(minutes=zone.clear_minutes)


def _auto_close(ep: Episode, zone: Zone, at: datetime, frame: _Frame | None) -> bool:
    """The platform verifies and closes the handled event; the episode ends. Returns False when
    the workflow does not let the platform verify (the episode then records that the zone is
    confirmed clear, and the verifiers are told once)."""
    from wangge.events.models import Notification
    from wangge.events.services import IllegalAction, dispatcher_posts, event_transition, grid_posts

    snap = frame.keep() if frame is not None else ""
    note = _("AI camera automatic verification: the zone was clear for %(m)s minutes in a row.")
    note = note % {"m": f"{zone.clear_minutes:g}"}
    try:
        with transaction.atomic():
            Episode.objects.filter(pk=ep.pk).update(
                state=EpisodeState.ENDED,
                ended_at=at,
                end_reason=EpisodeEnd.AUTO_CLOSED,
                close_detection=frame.det if frame is not None else None,
                close_snapshot=snap,
                clear_confirmed_at=ep.clear_confirmed_at or at,
            )
            event_transition(
                actor=SYSTEM, event=ep.event, action=EventAction.VERIFY_PASS, note=note, at=at
            )
    except IllegalAction:
        if ep.clear_confirmed_at is None:
            ep.clear_confirmed_at = at
            ep.save(update_fields=["clear_confirmed_at"])
            e = ep.event
            text = _("The camera shows the zone clear after handling; please verify: %(t)s")
            Notification.objects.bulk_create(
                Notification(
                    post=p, kind=Notice.VERIFY, event=e, text=(text % {"t": e.title})[:300]
                )
                for p in grid_posts(e) or dispatcher_posts(e)
            )
        return False
    ep.refresh_from_db()
    return True


# --- people changing the event --------------------------------------------------------------------
_END_BY_STATE = {
    EventState.CLOSED: EpisodeEnd.CLOSED,
    EventState.REJECTED: EpisodeEnd.REJECTED,
    EventState.MERGED: EpisodeEnd.MERGED,
}


def episode_on_event_change(*, event, action, frm, to, at) -> None:
    """Transition listener: the event of an open episode was finished by people → the episode
    ends and its zone's run starts afresh; sent back for rework → the confirmation lapses."""
    if to in _END_BY_STATE:
        for ep in Episode.objects.filter(event_id=event.pk, state=EpisodeState.OPEN):
            Episode.objects.filter(pk=ep.pk).update(
                state=EpisodeState.ENDED, ended_at=at, end_reason=_END_BY_STATE[to]
            )
            Zone.objects.filter(pk=ep.zone_id).update(
                presence_since=None, last_present_at=None, clear_since=None
            )
    elif action == EventAction.VERIFY_FAIL:
        Episode.objects.filter(event_id=event.pk, state=EpisodeState.OPEN).update(
            clear_confirmed_at=None
        )


# --- the periodic sweep ---------------------------------------------------------------------------
def cameras_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """What depends on time passing without frames, idempotent: cameras silent past the
    offline limit are flagged; open episodes without an event report it again; episodes due
    to close (say, closed before the workflow let the platform verify) close; detections past
    the retention period are purged."""
    now = now or timezone.now()
    counts = {"offline": 0, "reported": 0, "closed": 0, "purged": 0}
    with transaction.atomic():
        counts["offline"] = Camera.objects.filter(
            active=True, offline=False, last_frame_at__lt=now - offline_after()
        ).update(offline=True, offline_since=now)
    for ep in Episode.objects.filter(state=EpisodeState.OPEN, event__isnull=True).select_related(
        "zone", "camera"
    )[:200]:
        with transaction.atomic():
            _episode_report(ep, ep.zone, ep.camera)
        counts["reported"] += ep.event_id is not None
    due = Episode.objects.filter(
        state=EpisodeState.OPEN, event__state=EventState.HANDLED
    ).select_related("zone", "event")[:200]
    for ep in due:
        with transaction.atomic():
            zone = Zone.objects.select_for_update().get(pk=ep.zone_id)
            run = engine.ZoneRun.of(zone)
            if episode_close_due(ep, zone, run) and _auto_close(ep, zone, run.last_frame_at, None):
                counts["closed"] += 1
    counts["purged"] = detections_purge(now=now)
    return counts


def detections_purge(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete frames received before the retention period; frames that opened or ended an
    episode stay (their snapshot is the episode's evidence)."""
    now = now or timezone.now()
    opened = Episode.objects.exclude(open_detection=None).values("open_detection_id")
    ended = Episode.objects.exclude(close_detection=None).values("close_detection_id")
    total = 0
    while True:
        ids = list(
            Detection.objects.filter(received_at__lt=now - retention())
            .exclude(pk__in=opened)
            .exclude(pk__in=ended)
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return total
        total += Detection.objects.filter(pk__in=ids).delete()[0]
