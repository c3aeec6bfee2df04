"""The smart-sensing API (mounted under /api/perception; the cameras' router shares the prefix
with /detections and /cameras).

- ``POST /messages``: devices (or a gateway relaying one device's buffered messages) post one
  message or a JSON array of up to 500, signed with the device's key
  (``X-Device-Id``, ``X-Timestamp``, ``X-Signature``; see ``signing.py`` and docs/perception.md).
  Every message is answered in order: stored, duplicate or dead (with the reason).
- Reading and handling alarms and devices: posts with the sensing permissions, in their scope.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.pagination import PageNumberPagination, paginate
from ninja.security import APIKeyHeader

from wangge.core.errors import ApplicationError
from wangge.core.ratelimit import limited
from wangge.perception import alarms as A
from wangge.perception import selectors as S
from wangge.perception.devices import device_key
from wangge.perception.enums import DeadReason
from wangge.perception.ingest import dead_letter_store, messages_ingest
from wangge.perception.models import Device
from wangge.perception.schema import MAX_BODY, Inbound, channel_of, valid_device_id
from wangge.perception.signing import MAX_SKEW_SECONDS, verify

router = Router(tags=["perception"])
MAX_BATCH = 500


def _refuse(request, device_id: str, reason: str, detail: str, status: int = 401):
    """Keep the refused request as a dead letter (at most a few a minute per device id, so a
    flood does not fill the table) and answer with the reason."""
    if valid_device_id(device_id) and not limited(f"device-dead:{device_id}", limit=20, window=60):
        dead_letter_store(
            inbound=Inbound(
                device_id=device_id,
                channel="",
                body=request.body[: MAX_BODY * 2],
                transport="http",
                received_at=timezone.now(),
            ),
            reason=reason,
            detail=detail,
        )
    return ApplicationError(detail, code=reason, status=status)


class DeviceSignature(APIKeyHeader):
    """``X-Signature: hex(HMAC-SHA256(device key, "<X-Timestamp>." + body))`` with
    ``X-Device-Id`` and ``X-Timestamp`` (unix seconds, within 5 minutes of now)."""

    param_name = "X-Signature"
    openapi_description = (
        "The device's signature: `X-Device-Id`, `X-Timestamp` (unix seconds) and "
        "`X-Signature: hex(HMAC-SHA256(key, timestamp + '.' + body))`."
    )

    def authenticate(self, request, key):
        device_id = request.headers.get("X-Device-Id", "")
        stamp = request.headers.get("X-Timestamp", "")
        if not valid_device_id(device_id):
            raise ApplicationError(
                _("X-Device-Id is missing or not a device id."), code="unauthenticated", status=401
            )
        rate = int(getattr(settings, "WANGGE_SENSING_DEVICE_RATE", 120))
        if limited(f"device-msg:{device_id}", limit=rate, window=60):
            raise _refuse(
                request,
                device_id,
                DeadReason.RATE_LIMITED,
                _("Too many requests from this device; slow down."),
                429,
            )
        device = (
            Device.objects.filter(device_id=device_id).only("id", "device_id", "key_enc").first()
        )
        if device is None:
            raise _refuse(request, device_id, DeadReason.UNKNOWN_DEVICE, _("Unknown device."))
        try:
            sent = int(stamp)
        except ValueError:
            sent = None
        now = timezone.now().timestamp()
        if sent is None or abs(now - sent) > MAX_SKEW_SECONDS:
            raise _refuse(
                request,
                device_id,
                DeadReason.REPLAY,
                _("X-Timestamp is missing or more than 5 minutes away from now."),
            )
        if not device.key_enc or not verify(device_key(device), sent, request.body, key or ""):
            raise _refuse(request, device_id, DeadReason.BAD_SIGNATURE, _("Wrong signature."))
        request.device = device
        return device


class OutcomeOut(Schema):
    index: int
    status: str
    reason: str = ""
    message_id: int | None = None
    alarm_id: int | None = None


class IngestOut(Schema):
    stored: int
    duplicate: int
    dead: int
    results: list[OutcomeOut]


@router.post(
    "/messages",
    auth=DeviceSignature(),
    response=IngestOut,
    summary="A device posts one message or a batch (signed)",
)
def post_messages(request):
    """The body is one message object or a JSON array of them (all of the signing device).
    Malformed or refused messages are answered ``dead`` with the reason and kept as dead
    letters; the request as a whole succeeds."""
    device_id = request.device.device_id
    now = timezone.now()
    body = request.body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, list):
        if len(data) > MAX_BATCH:
            raise ApplicationError(
                _("At most %(n)s messages a request.") % {"n": MAX_BATCH},
                code="batch_too_large",
                status=413,
            )
        inbound = [
            Inbound(
                device_id=device_id,
                channel=channel_of(item),
                body=json.dumps(item, ensure_ascii=False).encode(),
                transport="http",
                received_at=now,
            )
            for item in data
        ]
    else:
        inbound = [
            Inbound(
                device_id=device_id,
                channel=channel_of(data),
                body=body,
                transport="http",
                received_at=now,
            )
        ]
    outcomes = messages_ingest(messages=inbound, at=now)
    counts = {"stored": 0, "duplicate": 0, "dead": 0}
    for o in outcomes:
        counts[o.status] += 1
    return {
        **counts,
        "results": [
            {
                "index": i,
                "status": o.status,
                "reason": o.reason,
                "message_id": o.message_id,
                "alarm_id": o.alarm_id,
            }
            for i, o in enumerate(outcomes)
        ],
    }


# --- alarms -------------------------------------------------------------------------------------
class AlarmOut(Schema):
    id: int
    type: str
    state: str
    grid_code: str
    device: str
    house_id: int | None
    address: str
    value: str
    count: int
    level: int
    raised_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    event_id: int | None
    url: str


def _alarm_out(a) -> dict[str, Any]:
    return {
        "id": a.pk,
        "type": a.type,
        "state": a.state,
        "grid_code": a.grid_code,
        "device": a.device.device_id,
        "house_id": a.house_id,
        "address": str(a.house) if a.house_id else "",
        "value": a.value,
        "count": a.count,
        "level": a.level,
        "raised_at": a.raised_at,
        "acknowledged_at": a.acknowledged_at,
        "closed_at": a.closed_at,
        "event_id": a.event_id,
        "url": A.alarm_url(a),
    }


@router.get("/alarms", response=list[AlarmOut], summary="Alarms of one's place")
@paginate(PageNumberPagination, page_size=50)
def list_alarms(request, state: str = "", type: str = "", code: str = "", device: str = ""):
    qs = S.alarm_list(
        actor=request.post, filters={"state": state, "type": type, "code": code, "device": device}
    )
    from wangge.core.paging import MappedPage

    return MappedPage(qs, lambda rows: [_alarm_out(a) for a in rows])


class StepOut(Schema):
    kind: str
    at: datetime
    post_id: int | None
    actor_id: int | None
    note: str = Field(description="the note in the request's language")
    note_key: str = Field(description="what the platform wrote, as a key ('' for a person's note)")


class ResidentOut(Schema):
    id: int
    name: str
    birth_year: int | None
    phone: str
    care_level: str
    tags: list[str]


class ContactOut(Schema):
    resident_id: int
    name: str
    relation: str
    phone: str


class AlarmDetailOut(AlarmOut):
    type_label: str
    grid_name: str
    residents: list[ResidentOut]
    contacts: list[ContactOut]
    responders: list[dict]
    plan_title: str
    plan_steps: list[str]
    steps: list[StepOut]


@router.get("/alarms/{alarm_id}", response=AlarmDetailOut, summary="An alarm, enriched")
def get_alarm(request, alarm_id: int):
    a = S.alarm_get(actor=request.post, alarm_id=alarm_id)
    v = S.alarm_view(actor=request.post, alarm=a)
    return {
        **_alarm_out(a),
        "type_label": v.type_label,
        "grid_name": v.grid_name,
        "residents": [
            {
                "id": r.id,
                "name": r.name,
                "birth_year": r.birth_year,
                "phone": r.phone,
                "care_level": r.care_level,
                "tags": r.tags,
            }
            for r in v.residents
        ],
        "contacts": [c.__dict__ for c in v.contacts],
        "responders": v.responders,
        "plan_title": v.plan_title,
        "plan_steps": v.plan_steps,
        "steps": [
            {
                "kind": s.kind,
                "at": s.at,
                "post_id": s.post_id,
                "actor_id": s.actor_id,
                "note": s.text,
                "note_key": s.note_key,
            }
            for s in v.steps
        ],
    }


class NoteIn(Schema):
    note: str = ""


@router.post("/alarms/{alarm_id}/acknowledge", response=AlarmOut, summary="Acknowledge (签收)")
def acknowledge_alarm(request, alarm_id: int):
    a = S.alarm_get(actor=request.post, alarm_id=alarm_id)
    return _alarm_out(A.alarm_acknowledge(actor=request.post, alarm=a))


@router.post("/alarms/{alarm_id}/resolve", response=AlarmOut, summary="Resolved, with a note")
def resolve_alarm(request, alarm_id: int, body: NoteIn):
    a = S.alarm_get(actor=request.post, alarm_id=alarm_id)
    return _alarm_out(A.alarm_resolve(actor=request.post, alarm=a, note=body.note))


@router.post("/alarms/{alarm_id}/false-alarm", response=AlarmOut, summary="A false alarm (误报)")
def false_alarm(request, alarm_id: int, body: NoteIn):
    a = S.alarm_get(actor=request.post, alarm_id=alarm_id)
    return _alarm_out(A.alarm_false(actor=request.post, alarm=a, note=body.note))


# --- devices ------------------------------------------------------------------------------------
class DeviceOut(Schema):
    id: int
    device_id: str
    type: str
    status: str
    grid_code: str
    house_id: int | None
    location: str
    last_seen_at: datetime | None
    last_heartbeat_at: datetime | None
    heartbeat_seconds: int
    battery: int | None
    firmware: str
    false_alarms: int


def _device_out(d) -> dict[str, Any]:
    return {k: getattr(d, k) for k in DeviceOut.model_fields if k != "id"} | {"id": d.pk}


@router.get("/devices", response=list[DeviceOut], summary="Devices of one's place")
@paginate(PageNumberPagination, page_size=100)
def list_devices(
    request,
    status: str = "",
    type: str = "",
    code: str = "",
    q: str = "",
    low_battery: bool = False,
):
    return S.device_list(
        actor=request.post,
        filters={"status": status, "type": type, "code": code, "q": q, "low_battery": low_battery},
    )


@router.get("/devices/{device_id}", response=DeviceOut, summary="A device")
def get_device(request, device_id: str):
    return _device_out(S.device_get(actor=request.post, device_id=device_id))


# --- for the cockpit ----------------------------------------------------------------------------
@router.get("/feed", response=list[dict], summary="Recent alarms under a place (no personal data)")
def alarm_feed(request, code: str, since: datetime | None = None, limit: int = 50):
    return S.alarm_feed(actor=request.post, code=code, since=since, limit=limit)


@router.get("/counts", response=dict, summary="Devices and alarms under a place")
def sensing_counts(request, code: str):
    return S.sensing_counts(actor=request.post, code=code)
