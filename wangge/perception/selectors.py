"""Reads of smart sensing, always through the acting post's scope (grid-code prefix); an
object outside it is "not found". Personal data in an alarm's view is masked per the post's
rights by the people selectors; full phone numbers only through ``alarm_contacts_unmask``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm, require
from wangge.accounts.scope import scope_for
from wangge.core.errors import NotFound
from wangge.core.masking import mask_name, mask_phone
from wangge.perception.enums import (
    OPEN_ALARM_STATES,
    AlarmState,
    AlarmType,
    DeadReason,
    DeviceStatus,
    DeviceType,
)
from wangge.perception.models import (
    Alarm,
    AlarmStep,
    DeadLetter,
    Device,
    DeviceIssue,
    DeviceMessage,
    ResponsePlan,
)
from wangge.perception.schema import Channel
from wangge.regions import codes as C


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(_("Not found.")) from None


def _code_filter(qs: QuerySet, actor, code: str | None, field: str = "grid_code") -> QuerySet:
    """Narrow to a subtree the post sees (NotFound for one outside its scope)."""
    if not code:
        return qs
    code = C.normalize(code)
    scope_for(actor).check(code)
    return qs.filter(**C.prefix_filter(code, field))


# --- alarms -------------------------------------------------------------------------------------
def alarm_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Alarm]:
    """Alarms in the post's scope, newest first; filters: ``state`` (a state, or ``open``),
    ``type``, ``code`` (a subtree), ``device`` (device id), ``since`` (a datetime)."""
    require(actor, Perm.SENSING_VIEW)
    f = filters or {}
    qs = scope_for(actor).filter(Alarm.objects.all(), "grid_code")
    state = f.get("state")
    if state == "open":
        qs = qs.filter(state__in=OPEN_ALARM_STATES)
    elif state in AlarmState.values:
        qs = qs.filter(state=state)
    if f.get("type") in AlarmType.values:
        qs = qs.filter(type=f["type"])
    if f.get("device"):
        qs = qs.filter(device__device_id=f["device"])
    if isinstance(f.get("since"), datetime):
        qs = qs.filter(raised_at__gte=f["since"])
    qs = _code_filter(qs, actor, f.get("code"))
    return qs.select_related("device", "house__building", "event").order_by("-raised_at", "-id")


def alarm_inbox(*, actor) -> QuerySet[Alarm]:
    """The open alarms of the post's place: unacknowledged first, newest first."""
    return (
        alarm_list(actor=actor, filters={"state": "open"})
        .annotate(
            unacked=Case(
                When(state=AlarmState.NEW, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("unacked", "-raised_at", "-id")
    )


def alarm_get(*, actor, alarm_id) -> Alarm:
    require(actor, Perm.SENSING_VIEW)
    a = (
        Alarm.objects.select_related("device", "house__building", "event", "acknowledged_by__user")
        .filter(pk=_int(alarm_id))
        .first()
    )
    if a is None or not scope_for(actor).covers(a.grid_code):
        raise NotFound(_("No such alarm."))
    return a


@dataclass
class Contact:
    resident_id: int
    name: str
    relation: str
    phone: str  # masked


@dataclass
class AlarmView:
    alarm: Alarm
    type_label: str
    address: str
    grid_name: str
    residents: list = field(default_factory=list)  # people.selectors.ResidentView, masked
    contacts: list[Contact] = field(default_factory=list)
    responders: list[dict] = field(default_factory=list)
    plan_title: str = ""
    plan_steps: list[str] = field(default_factory=list)
    steps: list[AlarmStep] = field(default_factory=list)
    can_handle: bool = False
    can_unmask: bool = False


def _place_name(code: str) -> str:
    from wangge.regions.models import Grid, Region

    for model in (Grid, Region):
        name = model.objects.filter(code=code).values_list("name", flat=True).first()
        if name:
            return name
    return code


def _contacts(residents) -> list[Contact]:
    from wangge.people.crypto import get_keyring
    from wangge.people.services import is_child

    keys = get_keyring()
    out: list[Contact] = []
    for r in residents:
        if is_child(r):
            continue
        if r.phone_enc:
            phone = keys.decrypt(r.phone_enc, field="phone")
            out.append(Contact(r.pk, mask_name(r.name), "", mask_phone(phone)))
        if r.contacts_enc:
            for c in json.loads(keys.decrypt(r.contacts_enc, field="contacts")):
                out.append(
                    Contact(
                        r.pk,
                        mask_name(str(c.get("name", ""))),
                        str(c.get("relation", "")),
                        mask_phone(str(c.get("phone", ""))),
                    )
                )
    return out


def alarm_view(*, actor, alarm: Alarm) -> AlarmView:
    """Everything the responder needs at once: the home, its residents with tags and care
    level (masked per the post), the grid, who answers for it, emergency contacts (masked),
    the response plan and the timeline."""
    from wangge.people.models import Resident
    from wangge.people.selectors import resident_views
    from wangge.perception.alarms import plan_for, responder_tiers

    scope_for(actor).check(alarm.grid_code)
    view = AlarmView(
        alarm=alarm,
        type_label=str(AlarmType(alarm.type).label),
        address=str(alarm.house) if alarm.house_id else "",
        grid_name=_place_name(alarm.grid_code),
        can_handle=has_perm(actor, Perm.ALARMS_HANDLE) and alarm.is_open,
        can_unmask=has_perm(actor, Perm.PEOPLE_UNMASK) and has_perm(actor, Perm.ALARMS_HANDLE),
    )
    if alarm.house_id and has_perm(actor, Perm.PEOPLE_VIEW):
        residents = list(
            Resident.objects.filter(house_id=alarm.house_id, moved_out__isnull=True)
            .select_related("house__building")
            .order_by("id")
        )
        view.residents = resident_views(actor=actor, residents=residents)
        view.contacts = _contacts(residents)
    for i, tier in enumerate(responder_tiers(alarm)):
        for p in tier:
            view.responders.append(
                {
                    "tier": i,
                    "post": p.pk,
                    "role": p.get_role_display(),
                    "name": p.user.get_full_name() or p.user.username,
                    "notified": i <= alarm.level,
                }
            )
    plan = plan_for(alarm.type)
    if plan is not None:
        view.plan_title = plan.title_for()
        view.plan_steps = plan.step_list()
    view.steps = list(
        AlarmStep.objects.filter(alarm=alarm).select_related("post__user", "actor__user")
    )
    return view


# --- devices ------------------------------------------------------------------------------------
def device_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Device]:
    """Devices in the scope; filters: ``status``, ``type``, ``code``, ``q`` (device id prefix),
    ``low_battery`` (below the threshold)."""
    from wangge.perception.rules import _low_battery

    require(actor, Perm.SENSING_VIEW)
    f = filters or {}
    qs = scope_for(actor).filter(Device.objects.all(), "grid_code")
    if f.get("status") in DeviceStatus.values:
        qs = qs.filter(status=f["status"])
    if f.get("type") in DeviceType.values:
        qs = qs.filter(type=f["type"])
    if f.get("q"):
        qs = qs.filter(device_id__startswith=str(f["q"]).strip())
    if f.get("low_battery"):
        qs = qs.filter(battery__lt=_low_battery())
    qs = _code_filter(qs, actor, f.get("code"))
    return qs.select_related("house__building", "unit").order_by("device_id")


def device_get(*, actor, device_id) -> Device:
    """A device by its primary key or its device id."""
    require(actor, Perm.SENSING_VIEW)
    qs = Device.objects.select_related("house__building", "unit")
    d = (
        qs.filter(pk=int(device_id)).first()
        if str(device_id).isdigit()
        else qs.filter(device_id=str(device_id)).first()
    )
    if d is None or not scope_for(actor).covers(d.grid_code):
        raise NotFound(_("No such device."))
    return d


def device_messages(*, actor, device: Device) -> QuerySet[DeviceMessage]:
    scope_for(actor).check(device.grid_code)
    require(actor, Perm.SENSING_VIEW)
    return DeviceMessage.objects.filter(device=device).order_by("-received_at", "-id")


def device_issues(*, actor, device: Device) -> QuerySet[DeviceIssue]:
    scope_for(actor).check(device.grid_code)
    require(actor, Perm.SENSING_VIEW)
    return DeviceIssue.objects.filter(device=device).select_related("event").order_by("-opened_at")


# --- dead letters -------------------------------------------------------------------------------
def _dead_scope(actor) -> Q:
    scope = scope_for(actor)
    q = scope.q("grid_code")
    if C.CITY_CODE in scope.prefixes:  # whole-city posts also see unknown devices' letters
        q |= Q(grid_code="")
    return q


def dead_letter_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[DeadLetter]:
    """What was not stored (``sensing.manage``): filters ``reason``, ``device`` (as given),
    ``since``."""
    require(actor, Perm.SENSING_MANAGE)
    f = filters or {}
    qs = DeadLetter.objects.filter(_dead_scope(actor))
    if f.get("reason") in DeadReason.values:
        qs = qs.filter(reason=f["reason"])
    if f.get("device"):
        qs = qs.filter(device_ref=str(f["device"]).strip())
    if isinstance(f.get("since"), datetime):
        qs = qs.filter(received_at__gte=f["since"])
    return qs.order_by("-received_at", "-id")


def dead_letter_counts(*, actor, since: datetime | None = None) -> dict[str, int]:
    """Dead letters by reason (every reason, zero included)."""
    qs = dead_letter_list(actor=actor, filters={"since": since})
    found = dict(qs.order_by().values_list("reason").annotate(n=Count("id")))
    return {r: found.get(r, 0) for r in DeadReason.values}


# --- plans --------------------------------------------------------------------------------------
def plan_list(*, actor) -> list[ResponsePlan]:
    require(
        actor,
        Perm.SENSING_VIEW if not has_perm(actor, Perm.SENSING_MANAGE) else Perm.SENSING_MANAGE,
    )
    return list(ResponsePlan.objects.all())


def plan_get(*, actor, alarm_type: str) -> ResponsePlan:
    plans = {p.alarm_type: p for p in plan_list(actor=actor)}
    if alarm_type not in plans:
        raise NotFound(_("No such plan."))
    return plans[alarm_type]


# --- for the cockpit ----------------------------------------------------------------------------
def alarm_feed(
    *, actor, code: str, since: datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Recent alarms under ``code`` (newest first): no personal data, a title of the type and
    the place's name. Indexed by (grid_code, raised_at)."""
    from django.urls import reverse

    require(actor, Perm.SENSING_VIEW)
    code = C.normalize(code)
    scope_for(actor).check(code)
    qs = Alarm.objects.filter(**C.prefix_filter(code, "grid_code"))
    if since is not None:
        qs = qs.filter(raised_at__gte=since)
    rows = list(
        qs.order_by("-raised_at", "-id").values("id", "type", "state", "grid_code", "raised_at")[
            : max(1, min(int(limit), 200))
        ]
    )
    names = _names({r["grid_code"] for r in rows})
    return [
        {
            "id": r["id"],
            "type": r["type"],
            "type_label": str(AlarmType(r["type"]).label),
            "state": r["state"],
            "state_label": str(AlarmState(r["state"]).label),
            "grid_code": r["grid_code"],
            "raised_at": r["raised_at"],
            "title": f"{AlarmType(r['type']).label} · {names.get(r['grid_code'], r['grid_code'])}",
            "url": reverse("perception:alarm", args=[r["id"]]),
        }
        for r in rows
    ]


def _names(codes: set[str]) -> dict[str, str]:
    from wangge.regions.models import Grid

    return dict(Grid.objects.filter(code__in=codes).values_list("code", "name"))


def sensing_counts(*, actor, code: str, now: datetime | None = None) -> dict[str, int]:
    """Devices (total, online, offline, low battery), the messages stored in the last minute
    and alarms (open, unacknowledged, raised today) under ``code``: three queries on the
    grid-code prefix."""
    from wangge.perception.rules import _low_battery

    require(actor, Perm.SENSING_VIEW)
    code = C.normalize(code)
    scope_for(actor).check(code)
    under = C.prefix_filter(code, "grid_code")
    low = _low_battery()
    d = Device.objects.filter(**under).aggregate(
        total=Count("id"),
        online=Count("id", filter=Q(status=DeviceStatus.ONLINE)),
        offline=Count("id", filter=Q(status=DeviceStatus.OFFLINE)),
        low_battery=Count("id", filter=Q(battery__lt=low)),
    )
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    a = Alarm.objects.filter(**under).aggregate(
        open=Count("id", filter=Q(state__in=OPEN_ALARM_STATES)),
        unacknowledged=Count("id", filter=Q(state=AlarmState.NEW)),
        today=Count(
            "id", filter=Q(raised_at__gte=midnight, raised_at__lt=midnight + timedelta(days=1))
        ),
    )
    # the traffic of the last minute: the messages stored under the node (an index range on
    # the receiving time per channel, joined to the devices under the node)
    recent = DeviceMessage.objects.filter(
        channel__in=Channel.values,
        received_at__gt=now - timedelta(seconds=60),
        received_at__lte=now,
    )
    if code != C.CITY_CODE:  # the city's are every device's: no join
        recent = recent.filter(**C.prefix_filter(code, "device__grid_code"))
    recent = recent.count()
    return {
        "messages_minute": recent,
        "devices": d["total"],
        "online": d["online"],
        "offline": d["offline"],
        "low_battery": d["low_battery"],
        "alarms_open": a["open"],
        "alarms_unacknowledged": a["unacknowledged"],
        "alarms_today": a["today"],
    }
