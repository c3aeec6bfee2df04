"""Alarms: raised by a device's alarm message (or a rule over time), pushed to the first
responder at once, escalated when nobody acknowledges, tied to an emergency event in the
closed loop, and handled by the grid's workers.

- ``alarm_raise`` (inside the ingestion transaction, the device row locked): a repeat of an
  open alarm of the same device and type counts on it; a new one is stored with its steps,
  opens an event (``event_report``, source sensor, key ``alarm-<id>``), writes a notice to the
  micro-grid worker's post (the first responsible post) and delivers it to the channels as soon
  as the transaction commits.
- ``alarms_escalate(now=…)`` (periodic, idempotent, safe on several workers): an alarm not
  acknowledged within the plan's minutes goes to the grid worker, then to the community duty
  post; each step is an ``AlarmStep`` and an audit row.
- ``alarm_acknowledge`` / ``alarm_resolve`` / ``alarm_false`` (a worker of the alarm's place).
- ``alarm_on_event_change``: when the event closes (or is rejected or merged) the alarm closes.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.models import Post
from wangge.accounts.rules import require
from wangge.accounts.scope import SYSTEM, scope_for
from wangge.core import audit
from wangge.core.errors import ApplicationError, Conflict, NotFound, ValidationError
from wangge.core.masking import mask_name
from wangge.events import workflow as W
from wangge.events.enums import FINAL_STATES, EventAction, HandlingLevel, Notice, RejectReason
from wangge.events.models import Notification
from wangge.perception.enums import (
    OPEN_ALARM_STATES,
    STEP_NOTES,
    AlarmState,
    AlarmType,
    StepKind,
)
from wangge.perception.models import Alarm, AlarmStep, Device, ResponsePlan

logger = logging.getLogger("wangge.perception")
DEFAULT_ESCALATE_MINUTES = 5
# the event category when no plan names one
FALLBACK_CATEGORY = {
    AlarmType.GAS: "0601",
    AlarmType.SMOKE: "1201",
    AlarmType.LEAK: "1201",
    AlarmType.SOS: "0801",
    AlarmType.FALL: "0801",
    AlarmType.DOOR: "0702",
    AlarmType.INACTIVITY: "0801",
}


def alarm_url(alarm: Alarm) -> str:
    return reverse("perception:alarm", args=[alarm.pk])


def plan_for(alarm_type: str) -> ResponsePlan | None:
    return ResponsePlan.objects.filter(alarm_type=alarm_type).first()


def _minutes(plan: ResponsePlan | None) -> int:
    return plan.escalate_minutes if plan and plan.escalate_minutes else DEFAULT_ESCALATE_MINUTES


def _step(
    alarm, kind, at, /, *, post=None, actor=None, note: str = "", key: str = "", **args
) -> AlarmStep:
    """A line of the timeline: ``note`` a person's words (or a number), ``key`` one of
    ``STEP_NOTES`` with ``args``, put into words when read (``AlarmStep.text``)."""
    assert not key or key in STEP_NOTES, key
    return AlarmStep(
        alarm=alarm,
        kind=kind,
        at=at,
        post=post if isinstance(post, Post) else None,
        actor=actor if isinstance(actor, Post) else None,
        note=note[:300],
        note_key=key,
        note_args=args,
    )


def responder_tiers(alarm: Alarm) -> list[list[Post]]:
    """Who is told, in order of escalation: the micro-grid worker, the grid worker (the posts
    ``responsible_posts`` names, nearest first), then the community duty post (the community's
    dispatchers). Tiers without anyone are left out."""
    from wangge.workforce.selectors import responsible_posts

    tiers = [[p] for p in responsible_posts(actor=SYSTEM, grid_code=alarm.grid_code)]
    duty = list(
        Post.objects.filter(
            role=W.DISPATCHER_ROLE[HandlingLevel.COMMUNITY],
            is_active=True,
            place_code=alarm.grid_code[:12],
        ).order_by("id")
    )
    tiers.append(duty)
    seen: set[int] = set()
    out = []
    for tier in tiers:
        tier = [p for p in tier if p.pk not in seen]
        seen.update(p.pk for p in tier)
        if tier:
            out.append(tier)
    return out


# --- delivery -----------------------------------------------------------------------------------
def notices_deliver(ids: list[int]) -> int:
    """Hand these outbox rows to the notification channels now (the periodic delivery would
    take up to a minute): the same backends and bookkeeping as ``events.notify``, for these
    rows only; a row another worker holds or a failing channel is left for the sweep."""
    from wangge.events.notify import MAX_ATTEMPTS

    if not ids:
        return 0
    backends = [import_string(b) for b in settings.WANGGE_NOTIFY_BACKENDS]
    done = 0
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, delivered_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            .order_by("id")
        )
        for n in rows:
            n.attempts += 1
            try:
                for b in backends:
                    b(n)
                n.delivered_at = timezone.now()
                done += 1
            except Exception:  # a channel is down: the sweep tries again
                logger.exception("delivering notice %s failed", n.pk)
        Notification.objects.bulk_update(rows, ["attempts", "delivered_at"])
    return done


def _notify(alarm: Alarm, posts: list[Post], kind: str, text: str) -> list[Notification]:
    rows = Notification.objects.bulk_create(
        [
            Notification(
                post=p, kind=kind, event=alarm.event, text=text[:300], link=alarm_url(alarm)
            )
            for p in posts
        ]
    )
    ids = [n.pk for n in rows]
    transaction.on_commit(lambda: notices_deliver(ids))
    return rows


def _notice_text(alarm: Alarm, *, escalated: bool = False) -> str:
    """Type, home and the first resident's masked name: enough to act on, no full personal
    data in a notice that may leave for other channels."""
    from wangge.people.models import Resident

    where = str(alarm.house) if alarm.house_id else alarm.grid_code
    who = ""
    if alarm.house_id:
        first = (
            Resident.objects.filter(house_id=alarm.house_id, moved_out__isnull=True)
            .order_by("id")
            .values_list("name", flat=True)
            .first()
        )
        who = f" · {mask_name(first)}" if first else ""
    label = AlarmType(alarm.type).label
    if escalated:
        return _("Escalated, not acknowledged: %(type)s at %(where)s%(who)s") % {
            "type": label,
            "where": where,
            "who": who,
        }
    return _("Alarm: %(type)s at %(where)s%(who)s") % {"type": label, "where": where, "who": who}


# --- raising ------------------------------------------------------------------------------------
def alarm_from_message(*, device: Device, payload: dict, message_id: int, at: datetime) -> Alarm:
    """The alarm an alarm message raises or repeats (called by the ingestion pipeline)."""
    from wangge.perception.schema import ALARM_EVENTS

    value = payload.get("value")
    return alarm_raise(
        device=device,
        type=ALARM_EVENTS[payload["event"]],
        value="" if value is None else str(value),
        message_id=message_id,
        at=at,
    )


def alarm_raise(
    *,
    device: Device,
    type: str,
    at: datetime,
    value: str = "",
    message_id: int | None = None,
    note: str = "",
    note_key: str = "",
    note_args: dict | None = None,
) -> Alarm:
    """Raise an alarm of ``type`` for the device, or count a repeat on the open one. Runs in
    the caller's transaction (the platform acting); the device row should be locked by it.
    What raised it goes on the first step: ``note``, or a ``STEP_NOTES`` key and its
    arguments, or else the reading."""
    type = AlarmType(type)
    with transaction.atomic():
        open_alarm = (
            Alarm.objects.select_for_update()
            .filter(device_id=device.pk, type=type, state__in=OPEN_ALARM_STATES)
            .first()
        )
        if open_alarm is not None:
            Alarm.objects.filter(pk=open_alarm.pk).update(count=F("count") + 1, last_at=at)
            open_alarm.refresh_from_db(fields=["count", "last_at"])
            return open_alarm
        device = Device.objects.select_related("house__building").get(pk=device.pk)
        plan = plan_for(type)
        alarm = Alarm.objects.create(
            device=device,
            type=type,
            house_id=device.house_id,
            grid_code=device.grid_code,
            value=value[:100],
            message_id=message_id,
            raised_at=at,
            last_at=at,
            next_escalation_at=at + timedelta(minutes=_minutes(plan)),
        )
        why = note or ("" if note_key else value[:100])
        steps = [_step(alarm, StepKind.RAISED, at, note=why, key=note_key, **(note_args or {}))]
        alarm.event = _open_event(alarm, device, plan, at, steps)
        tiers = responder_tiers(alarm)
        if len(tiers) <= 1:
            alarm.next_escalation_at = None
        alarm.save(update_fields=["event", "next_escalation_at"])
        if tiers:
            _notify(alarm, tiers[0], Notice.ALARM, _notice_text(alarm))
            steps += [
                _step(alarm, StepKind.NOTIFIED, at, post=p, key="first_responder") for p in tiers[0]
            ]
        else:
            steps.append(_step(alarm, StepKind.NOTE, at, key="nobody"))
        AlarmStep.objects.bulk_create(steps)
        audit.record(
            actor=SYSTEM,
            action="perception.alarm_raise",
            obj=alarm,
            details={
                "type": type.value,
                "device": device.device_id,
                "grid_code": alarm.grid_code,
                "event": alarm.event_id,
                "notified": [p.pk for p in tiers[0]] if tiers else [],
            },
        )
    return alarm


def _event_title(alarm: Alarm) -> str:
    return _("%(type)s alarm (%(device)s)") % {
        "type": AlarmType(alarm.type).label,
        "device": alarm.device.device_id,
    }


def _open_event(alarm: Alarm, device: Device, plan, at: datetime, steps: list):
    """The emergency event of the alarm in the closed loop; a refusal (no such category, the
    grid gone) is noted on the alarm and never loses it."""
    from wangge.events.enums import Source, Urgency
    from wangge.events.services import event_report

    house = device.house if device.house_id else None
    building = house.building if house else None
    category = plan.category if plan else FALLBACK_CATEGORY[AlarmType(alarm.type)]
    try:
        with transaction.atomic():
            event, _created = event_report(
                actor=SYSTEM,
                source=Source.SENSOR,
                category=category,
                title=_event_title(alarm),
                description=_("Raised by device %(device)s (%(type)s). Value: %(value)s")
                % {
                    "device": device.device_id,
                    "type": device.get_type_display(),
                    "value": alarm.value or "—",
                },
                urgency=plan.urgency if plan else Urgency.EMERGENCY,
                grid_code=alarm.grid_code,
                address=str(house) if house else "",
                lon=building.lon if building else None,
                lat=building.lat if building else None,
                external_ref=device.device_id,
                key=f"alarm-{alarm.pk}",
                at=at,
            )
    except ApplicationError as exc:
        logger.warning("alarm %s: no event opened (%s)", alarm.pk, exc.code)
        steps.append(_step(alarm, StepKind.NOTE, at, key="no_event", m=str(exc.message)[:200]))
        return None
    steps.append(_step(alarm, StepKind.EVENT_OPENED, at, note=event.number))
    return event


# --- escalation ---------------------------------------------------------------------------------
def alarms_escalate(*, now: datetime | None = None, batch: int = 500) -> int:
    """Escalate every new (unacknowledged) alarm whose time is up; returns how many moved.
    Idempotent (an alarm moves once per due time) and safe on several workers (rows claimed
    with SKIP LOCKED)."""
    now = now or timezone.now()
    moved = 0
    while True:
        with transaction.atomic():
            rows = list(
                Alarm.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=AlarmState.NEW, next_escalation_at__lte=now)
                .select_related("house__building", "device")
                .order_by("next_escalation_at", "id")[:batch]
            )
            for alarm in rows:
                _escalate(alarm, now)
            moved += len(rows)
        if len(rows) < batch:
            return moved


def _escalate(alarm: Alarm, now: datetime) -> None:
    plan = plan_for(alarm.type)
    minutes = _minutes(plan)
    tiers = responder_tiers(alarm)
    level = alarm.level + 1
    if level >= len(tiers):
        alarm.next_escalation_at = None
        alarm.save(update_fields=["next_escalation_at"])
        return
    posts = tiers[level]
    _notify(alarm, posts, Notice.ALARM_ESCALATED, _notice_text(alarm, escalated=True))
    AlarmStep.objects.bulk_create(
        [_step(alarm, StepKind.ESCALATED, now, post=p, key="not_acked", n=minutes) for p in posts]
    )
    alarm.level = level
    alarm.next_escalation_at = now + timedelta(minutes=minutes) if level + 1 < len(tiers) else None
    alarm.save(update_fields=["level", "next_escalation_at"])
    audit.record(
        actor=SYSTEM,
        action="perception.alarm_escalate",
        obj=alarm,
        details={"level": level, "to": [p.pk for p in posts], "minutes": minutes},
    )


# --- a worker's actions -------------------------------------------------------------------------
def _lock(actor, alarm: Alarm) -> Alarm:
    require(actor, Perm.ALARMS_HANDLE)
    locked = (
        Alarm.objects.select_for_update(of=("self",))
        .select_related("device", "event", "house")
        .filter(pk=alarm.pk)
        .first()
    )
    if locked is None or not scope_for(actor).covers(locked.grid_code):
        raise NotFound(_("No such alarm."))
    return locked


def _not_open(alarm: Alarm) -> Conflict:
    return Conflict(
        _("The alarm is %(state)s already.") % {"state": AlarmState(alarm.state).label},
        code="alarm_closed",
        details={"state": alarm.state},
    )


def alarm_acknowledge(*, actor, alarm: Alarm, at: datetime | None = None) -> Alarm:
    """I have it (签收): stops the escalation. Acknowledging again changes nothing."""
    at = at or timezone.now()
    with transaction.atomic():
        a = _lock(actor, alarm)
        if a.state == AlarmState.ACKNOWLEDGED:
            return a
        if a.state != AlarmState.NEW:
            raise _not_open(a)
        a.state = AlarmState.ACKNOWLEDGED
        a.acknowledged_at, a.acknowledged_by = at, actor
        a.next_escalation_at = None
        a.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "next_escalation_at"])
        _step(a, StepKind.ACKNOWLEDGED, at, actor=actor).save()
        audit.record(actor=actor, action="perception.alarm_acknowledge", obj=a)
    return a


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) < 2:
        raise ValidationError(
            _("Write a note for this action."),
            code="note_required",
            details={"fields": {"note": _("required")}},
        )
    return note


def _close(a: Alarm, actor, state: str, kind: str, note: str, at: datetime) -> None:
    if a.state not in OPEN_ALARM_STATES:
        raise _not_open(a)
    if a.acknowledged_at is None:
        a.acknowledged_at, a.acknowledged_by = at, actor
    a.state, a.closed_at, a.closed_by = state, at, actor
    a.note = note
    a.next_escalation_at = None
    a.save()
    _step(a, kind, at, actor=actor, note=note).save()


def _event_follow(a: Alarm, actor, action: str, note: str, at: datetime, data=None) -> None:
    """Take ``action`` on the alarm's event if the workflow lets this post take it now; else
    leave the event to whoever may and say why on the alarm's timeline."""
    from wangge.events.services import event_transition

    e = a.event
    if e is None or not e.is_open:
        return
    if action not in W.allowed_actions(actor, e):
        _step(
            a, StepKind.NOTE, at, actor=actor, key="event_left_may_not", n=e.number, action=action
        ).save()
        return
    event_transition(actor=actor, event=e, action=action, note=note, data=data, at=at)


def alarm_resolve(*, actor, alarm: Alarm, note: str, at: datetime | None = None) -> Alarm:
    """Handled (处置完毕), with what was done. The event is resolved on the spot when the post
    and category allow it, else it stays with its dispatcher."""
    at = at or timezone.now()
    note = _note(note)
    with transaction.atomic():
        a = _lock(actor, alarm)
        _close(a, actor, AlarmState.RESOLVED, StepKind.RESOLVED, note, at)
        if a.event is not None and a.event.category.on_spot_allowed:
            _event_follow(a, actor, EventAction.RESOLVE_ON_SPOT, note, at)
        elif a.event is not None and a.event.is_open:
            _step(a, StepKind.NOTE, at, actor=actor, key="event_left", n=a.event.number).save()
        audit.record(
            actor=actor, action="perception.alarm_resolve", obj=a, details={"note": note[:200]}
        )
    return a


def alarm_false(*, actor, alarm: Alarm, note: str = "", at: datetime | None = None) -> Alarm:
    """A false alarm (误报): counted on the device (repeated ones raise a maintenance event);
    the event is rejected as invalid when this post may reject it, else left and noted."""
    from wangge.perception.rules import false_alarms_check

    at = at or timezone.now()
    note = (note or "").strip()  # none needed: the step says "marked a false alarm"
    with transaction.atomic():
        a = _lock(actor, alarm)
        _close(a, actor, AlarmState.FALSE_ALARM, StepKind.FALSE_ALARM, note, at)
        Device.objects.filter(pk=a.device_id).update(false_alarms=F("false_alarms") + 1)
        _event_follow(
            a,
            actor,
            EventAction.REJECT,
            note if len(note) >= 2 else _("False alarm"),
            at,
            data={"reason": RejectReason.INVALID},
        )
        audit.record(
            actor=actor, action="perception.alarm_false", obj=a, details={"note": note[:200]}
        )
        false_alarms_check(device=a.device, now=at)
    return a


def alarm_contacts_unmask(*, actor, alarm: Alarm, request=None) -> list[dict]:
    """The phone numbers to call for this alarm in full — the residents' own and their
    emergency contacts — for a post that may unmask, audited (the alarm is the reason) and
    counted against the post's hourly unmask limit. A child's record stays masked."""
    from wangge.core.ratelimit import limited
    from wangge.people.crypto import get_keyring
    from wangge.people.models import Resident
    from wangge.people.services import is_child

    require(actor, Perm.PEOPLE_UNMASK)
    require(actor, Perm.ALARMS_HANDLE)
    if not scope_for(actor).covers(alarm.grid_code):
        raise NotFound(_("No such alarm."))
    if limited(f"unmask:{actor.pk}", limit=settings.WANGGE_UNMASK_PER_HOUR, window=3600):
        raise ApplicationError(
            _("Too many records unmasked in the last hour."), code="unmask_rate", status=403
        )
    keys = get_keyring()
    out: list[dict] = []
    residents = (
        Resident.objects.filter(house_id=alarm.house_id, moved_out__isnull=True).order_by("id")
        if alarm.house_id
        else []
    )
    shown = []
    for r in residents:
        if is_child(r):
            continue
        if r.phone_enc:
            out.append(
                {
                    "resident": r.pk,
                    "name": r.name,
                    "relation": "",
                    "phone": keys.decrypt(r.phone_enc, field="phone"),
                }
            )
        if r.contacts_enc:
            for c in json.loads(keys.decrypt(r.contacts_enc, field="contacts")):
                out.append(
                    {
                        "resident": r.pk,
                        "name": str(c.get("name", "")),
                        "relation": str(c.get("relation", "")),
                        "phone": str(c.get("phone", "")),
                    }
                )
        shown.append(r.pk)
    audit.record(
        actor=actor,
        action="perception.alarm_contacts_unmask",
        obj=alarm,
        request=request,
        details={"residents": shown, "reason": f"alarm {alarm.pk}"},
    )
    return out


# --- the event's side ---------------------------------------------------------------------------
def alarm_on_event_change(*, event, action, frm, to, at) -> None:
    """Listener (registered in ``PerceptionConfig.ready``): the event closed, was rejected or
    merged → its open alarms close with it."""
    if to not in FINAL_STATES:
        return
    from wangge.events.enums import Source

    if event.source != Source.SENSOR:
        return
    for a in Alarm.objects.select_for_update().filter(
        event_id=event.pk, state__in=OPEN_ALARM_STATES
    ):
        a.state, a.closed_at, a.next_escalation_at = AlarmState.CLOSED_WITH_EVENT, at, None
        a.save(update_fields=["state", "closed_at", "next_escalation_at"])
        _step(a, StepKind.EVENT_CLOSED, at, key="event_closed", n=event.number, state=to).save()
        audit.record(
            actor=SYSTEM,
            action="perception.alarm_close_with_event",
            obj=a,
            details={"event": event.number, "state": to},
        )
