"""Rules over time (periodic, idempotent, ``now=`` so tests move time; safe on several workers:
candidate devices are claimed with SKIP LOCKED).

- **Inactivity**: a door magnet in the home of a resident tagged elderly-living-alone that has
  reported no door opening for ``inactivity_hours`` (the device's, else
  ``WANGGE_SENSING_INACTIVITY_HOURS``, 24) raises a welfare-check alarm — once per quiet spell
  (not again until the door opens).
- **Offline**: a device not heard from for three heartbeat intervals (``offline_after``) goes
  offline and opens an *offline* episode with one maintenance event; its next message brings it
  online and the sweep ends the episode.
- **Low battery**: below ``WANGGE_SENSING_LOW_BATTERY`` (20 %) opens a *low battery* episode
  with one maintenance event; a reading at or above it ends the episode.
- **Repeated false alarms**: ``K`` false alarms in ``D`` days (``WANGGE_SENSING_FALSE_ALARMS``,
  default ``(3, 30)``) open an episode with one maintenance event (checked when a worker marks
  a false alarm); the sweep ends it when the count falls below ``K``.

Maintenance events are reported by the platform (source sensor, a normal urgency) at the
device's grid — the community dispatcher dispatches them as usual — and the device's
maintenance unit (property company, installer), when it has one, gets a notice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Role
from wangge.accounts.models import Post
from wangge.accounts.scope import SYSTEM
from wangge.core import audit
from wangge.core.errors import ApplicationError
from wangge.events.enums import Notice, Source, Urgency
from wangge.events.models import Notification
from wangge.perception.enums import AlarmState, AlarmType, DeviceStatus, DeviceType, IssueKind
from wangge.perception.models import Alarm, Device, DeviceIssue

logger = logging.getLogger("wangge.perception")
ELDERLY_ALONE = "elderly_alone"
# the maintenance event's small category per device type (消防设施损坏 for smoke detectors,
# 燃气管道隐患 for gas detectors, 其他问题 otherwise)
MAINTENANCE_CATEGORY = {DeviceType.SMOKE: "0502", DeviceType.GAS: "0602"}
MAINTENANCE_FALLBACK = "9901"


def _low_battery() -> int:
    return int(getattr(settings, "WANGGE_SENSING_LOW_BATTERY", 20))


def _inactivity_hours() -> int:
    return int(getattr(settings, "WANGGE_SENSING_INACTIVITY_HOURS", 24))


def _false_alarm_limit() -> tuple[int, int]:
    k, days = getattr(settings, "WANGGE_SENSING_FALSE_ALARMS", (3, 30))
    return int(k), int(days)


def _issue_title(device: Device, kind: str) -> str:
    return _("Device %(device)s needs maintenance: %(kind)s") % {
        "device": device.device_id,
        "kind": IssueKind(kind).label,
    }


def issue_open(*, device: Device, kind: str, now: datetime, detail: str = "") -> DeviceIssue | None:
    """Open an episode of ``kind`` for the device with its maintenance event, unless one is
    open already (then None). In the caller's transaction."""
    from wangge.events.services import event_report

    kind = IssueKind(kind)
    if DeviceIssue.objects.filter(device=device, kind=kind, closed_at__isnull=True).exists():
        return None
    issue = DeviceIssue.objects.create(device=device, kind=kind, opened_at=now)
    house = device.house if device.house_id else None
    category = getattr(settings, "WANGGE_SENSING_MAINTENANCE_CATEGORY", None) or (
        MAINTENANCE_CATEGORY.get(DeviceType(device.type), MAINTENANCE_FALLBACK)
    )
    description = _("%(type)s %(device)s at %(where)s. %(detail)s Maintenance: %(unit)s") % {
        "type": device.get_type_display(),
        "device": device.device_id,
        "where": str(house) if house else device.grid_code,
        "detail": detail,
        "unit": device.unit.name if device.unit_id else _("the grid"),
    }
    try:
        with transaction.atomic():
            event, _created = event_report(
                actor=SYSTEM,
                source=Source.SENSOR,
                category=category,
                title=_issue_title(device, kind),
                description=description,
                urgency=Urgency.NORMAL,
                grid_code=device.grid_code,
                address=str(house) if house else "",
                external_ref=device.device_id,
                key=f"device-issue-{issue.pk}",
                at=now,
            )
    except ApplicationError as exc:
        logger.warning("device %s: no maintenance event (%s)", device.device_id, exc.code)
        event = None
    if event is not None:
        issue.event = event
        issue.save(update_fields=["event"])
        if device.unit_id:
            handlers = Post.objects.filter(
                role=Role.UNIT_HANDLER, is_active=True, unit_id=device.unit_id
            )
            Notification.objects.bulk_create(
                [
                    Notification(post=p, kind=Notice.NEW_WORK, event=event, text=event.title)
                    for p in handlers
                ]
            )
    audit.record(
        actor=SYSTEM,
        action="perception.device_issue_open",
        obj=device,
        details={"kind": kind.value, "event": event.number if event else ""},
    )
    return issue


def _issues_close(kind: str, cond: Q, now: datetime) -> int:
    return DeviceIssue.objects.filter(cond, kind=kind, closed_at__isnull=True).update(closed_at=now)


def false_alarms_check(*, device: Device, now: datetime) -> DeviceIssue | None:
    """After a false alarm: ``K`` in ``D`` days opens a maintenance episode (once)."""
    k, days = _false_alarm_limit()
    n = Alarm.objects.filter(
        device=device, state=AlarmState.FALSE_ALARM, closed_at__gte=now - timedelta(days=days)
    ).count()
    if n < k:
        return None
    return issue_open(
        device=device,
        kind=IssueKind.FALSE_ALARMS,
        now=now,
        detail=_("%(n)s false alarms in %(d)s days.") % {"n": n, "d": days},
    )


def _claim(qs, batch: int) -> list[Device]:
    return list(
        qs.select_for_update(skip_locked=True, of=("self",))
        .select_related("house__building", "unit")
        .order_by("id")[:batch]
    )


def rules_sweep(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Run every rule once; returns what each did. Running it again at the same ``now`` does
    nothing more."""
    from wangge.perception.alarms import alarm_raise

    now = now or timezone.now()
    out = {"offline": 0, "low_battery": 0, "inactivity": 0, "episodes_ended": 0}
    low = _low_battery()

    with transaction.atomic():
        # episodes that are over
        out["episodes_ended"] += _issues_close(
            IssueKind.OFFLINE, Q(device__status=DeviceStatus.ONLINE), now
        )
        out["episodes_ended"] += _issues_close(
            IssueKind.LOW_BATTERY, Q(device__battery__gte=low), now
        )
        k, days = _false_alarm_limit()
        for issue in DeviceIssue.objects.filter(
            kind=IssueKind.FALSE_ALARMS, closed_at__isnull=True
        ):
            if (
                Alarm.objects.filter(
                    device_id=issue.device_id,
                    state=AlarmState.FALSE_ALARM,
                    closed_at__gte=now - timedelta(days=days),
                ).count()
                < k
            ):
                issue.closed_at = now
                issue.save(update_fields=["closed_at"])
                out["episodes_ended"] += 1

    # offline
    while True:
        with transaction.atomic():
            rows = _claim(
                Device.objects.filter(status=DeviceStatus.ONLINE, offline_after__lt=now), batch
            )
            for d in rows:
                Device.objects.filter(pk=d.pk).update(status=DeviceStatus.OFFLINE)
                seen = timezone.localtime(d.last_seen_at).strftime("%Y-%m-%d %H:%M")
                issue_open(
                    device=d,
                    kind=IssueKind.OFFLINE,
                    now=now,
                    detail=_("Last heard from at %(at)s.") % {"at": seen},
                )
            out["offline"] += len(rows)
        if len(rows) < batch:
            break

    # low battery: devices below the threshold without an open episode
    open_low = DeviceIssue.objects.filter(
        device=OuterRef("pk"), kind=IssueKind.LOW_BATTERY, closed_at__isnull=True
    )
    while True:
        with transaction.atomic():
            rows = _claim(
                Device.objects.filter(battery__lt=low)
                .exclude(status=DeviceStatus.DISABLED)
                .filter(~Exists(open_low)),
                batch,
            )
            for d in rows:
                issue_open(
                    device=d,
                    kind=IssueKind.LOW_BATTERY,
                    now=now,
                    detail=_("Battery at %(b)s %%.") % {"b": d.battery},
                )
            out["low_battery"] += len(rows)
        if len(rows) < batch:
            break

    # inactivity: door magnets in homes of elderly people living alone
    from wangge.people.models import ResidentTag

    alone = ResidentTag.objects.filter(
        tag__code=ELDERLY_ALONE,
        resident__house_id=OuterRef("house_id"),
        resident__moved_out__isnull=True,
    )
    default_hours = _inactivity_hours()
    hour_ago = now - timedelta(hours=1)  # no device waits less than an hour
    quiet = Q(last_activity_at__lt=hour_ago) | Q(
        last_activity_at__isnull=True, created_at__lt=hour_ago
    )
    with transaction.atomic():
        candidates = _claim(
            Device.objects.filter(quiet, type=DeviceType.DOOR, house__isnull=False)
            .exclude(status=DeviceStatus.DISABLED)
            .filter(Exists(alone)),
            100_000,
        )
        for d in candidates:
            quiet_since = d.last_activity_at or d.created_at
            hours = d.inactivity_hours or default_hours
            if quiet_since > now - timedelta(hours=hours):
                continue
            # once per quiet spell: not again until the door has opened since the last one
            if Alarm.objects.filter(
                device=d, type=AlarmType.INACTIVITY, raised_at__gte=quiet_since
            ).exists():
                continue
            alarm_raise(
                device=d,
                type=AlarmType.INACTIVITY,
                at=now,
                note_key="no_door",
                note_args={
                    "h": hours,
                    "at": timezone.localtime(quiet_since).strftime("%Y-%m-%d %H:%M"),
                },
            )
            out["inactivity"] += 1
    return out
