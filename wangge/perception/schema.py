"""What a device sends, and what the pipeline answers: the contract between the transports
(HTTP ``POST /api/perception/messages``, the MQTT bridge) and ``services.messages_ingest``.

Payload schema (one JSON object, UTF-8, at most ``MAX_BODY`` bytes)::

    {
      "device":   "<device id>",              # string, 1–64 chars, must be the sender's id
      "type":     "<device type>",            # smoke | gas | door | water | button | wearable
      "event":    "<event>",                  # see below
      "value":    <number | string | null>,   # e.g. gas concentration %LEL, a status text
      "time":     "<ISO 8601 with offset>",   # when the device saw it, "2026-11-29T14:30:00+08:00"
      "seq":      <int ≥ 0>,                  # the device's sequence number, never reused
      "battery":  <0–100>,                    # optional, percent
      "firmware": "<version>",                # optional, ≤ 40 chars
      "rssi":     <int>,                      # optional, signal strength in dBm
      "channel":  "alarm|heartbeat|status"    # optional, HTTP only (MQTT takes it from the topic)
    }

Events by channel (the MQTT topic ``wangge/devices/<device id>/<channel>`` names the channel;
over HTTP it is ``channel`` in the payload or else the event's default channel):

- ``alarm``: ``smoke``, ``gas``, ``leak``, ``sos``, ``fall``, ``door_open`` (an intrusion /
  door alarm) — each raises an alarm;
- ``heartbeat``: ``heartbeat``;
- ``status``: any lower-case word (``[a-z][a-z0-9_]{0,31}``), e.g. ``battery``, ``tamper``,
  ``door_open`` / ``door_close`` (a door magnet's ordinary activity, which the inactivity rule
  watches), ``boot``.

Unknown keys are ignored (forward compatible). ``(device, seq)`` is unique: a message with a
sequence number already stored is a duplicate and is stored once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.perception.enums import AlarmType, DeadReason, DeviceType

MAX_BODY = 8_192  # bytes of one message
MAX_SEQ = 2**63 - 1


class Channel(models.TextChoices):
    ALARM = "alarm", _("Alarm")
    HEARTBEAT = "heartbeat", _("Heartbeat")
    STATUS = "status", _("Status")


@dataclass(frozen=True)
class Inbound:
    """One message as a transport received it, not yet parsed."""

    device_id: str
    channel: str
    body: bytes
    transport: str  # "mqtt" | "http"
    received_at: datetime


@dataclass
class Outcome:
    """What the pipeline did with one message: ``stored``, ``duplicate`` or ``dead`` (with the
    reason code, a ``DeadReason``)."""

    status: str  # "stored" | "duplicate" | "dead"
    reason: str = ""
    message_id: int | None = None
    alarm_id: int | None = None


# An alarm event → the alarm it raises.
ALARM_EVENTS: dict[str, str] = {
    "smoke": AlarmType.SMOKE,
    "gas": AlarmType.GAS,
    "leak": AlarmType.LEAK,
    "sos": AlarmType.SOS,
    "fall": AlarmType.FALL,
    "door_open": AlarmType.DOOR,
}
HEARTBEAT_EVENT = "heartbeat"
DOOR_OPEN = "door_open"
_TYPES = frozenset(DeviceType.values)
_CHANNELS = frozenset(Channel.values)
_WORD = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class PayloadError(ValueError):
    """The body is not a valid message: ``reason`` is a ``DeadReason``, ``detail`` says what."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _schema(detail: str) -> PayloadError:
    return PayloadError(DeadReason.SCHEMA, detail)


def valid_device_id(value: Any) -> bool:
    return isinstance(value, str) and _DEVICE_ID.fullmatch(value) is not None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_payload(body: bytes) -> dict[str, Any]:
    """The message in ``body`` checked against the schema and normalised: ``time`` an aware
    datetime, optional keys present (``None`` when absent). Raises ``PayloadError``."""
    if len(body) > MAX_BODY:
        raise PayloadError(DeadReason.TOO_LARGE, f"body of {len(body)} bytes > {MAX_BODY}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(DeadReason.MALFORMED, f"not JSON: {exc}"[:200]) from None
    return payload_check(data)


def payload_check(data: Any) -> dict[str, Any]:
    """``parse_payload`` for an already decoded JSON value."""
    if not isinstance(data, dict):
        raise _schema("not a JSON object")
    device = data.get("device")
    if not valid_device_id(device):
        raise _schema("device: a string of 1–64 letters, digits, '_.:-'")
    dtype = data.get("type")
    if dtype not in _TYPES:
        raise _schema(f"type: one of {', '.join(DeviceType.values)}")
    event = data.get("event")
    if not isinstance(event, str) or not _WORD.fullmatch(event):
        raise _schema("event: a lower-case word")
    value = data.get("value")
    if value is not None and not (
        isinstance(value, str) and len(value) <= 100 or isinstance(value, int | float)
    ):
        raise _schema("value: a number, a string of ≤ 100 chars or null")
    if isinstance(value, float) and value != value:  # NaN
        raise _schema("value: not a number")
    raw_time = data.get("time")
    if not isinstance(raw_time, str) or len(raw_time) > 40:
        raise _schema("time: ISO 8601 with an offset")
    try:
        at = datetime.fromisoformat(raw_time)
    except ValueError:
        raise _schema("time: ISO 8601 with an offset") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise _schema("time: the offset is missing")
    seq = data.get("seq")
    if not _int(seq) or not 0 <= seq <= MAX_SEQ:
        raise _schema("seq: an integer ≥ 0")
    battery = data.get("battery")
    if battery is not None:
        if not isinstance(battery, int | float) or isinstance(battery, bool):
            raise _schema("battery: a number 0–100")
        if not 0 <= battery <= 100:
            raise _schema("battery: a number 0–100")
        battery = round(battery)
    firmware = data.get("firmware")
    if firmware is not None and (not isinstance(firmware, str) or len(firmware) > 40):
        raise _schema("firmware: a string of ≤ 40 chars")
    rssi = data.get("rssi")
    if rssi is not None and (not _int(rssi) or not -200 <= rssi <= 50):
        raise _schema("rssi: an integer (dBm)")
    channel = data.get("channel")
    if channel is not None and channel not in _CHANNELS:
        raise _schema(f"channel: one of {', '.join(Channel.values)}")
    return {
        "device": device,
        "type": dtype,
        "event": event,
        "value": value,
        "time": at,
        "seq": seq,
        "battery": battery,
        "firmware": firmware,
        "rssi": rssi,
        "channel": channel,
    }


def default_channel(event: Any) -> str:
    """The channel of an event when the transport does not name one (HTTP without
    ``channel``): heartbeats, the alarm events, and status for everything else."""
    if event == HEARTBEAT_EVENT:
        return Channel.HEARTBEAT
    if event in ALARM_EVENTS and event != DOOR_OPEN:
        return Channel.ALARM
    return Channel.STATUS


def channel_of(item: Any) -> str:
    """The channel an HTTP message is for: its ``channel`` key when valid, else the default
    channel of its event."""
    if isinstance(item, dict):
        channel = item.get("channel")
        if channel in Channel.values:
            return channel
        return default_channel(item.get("event"))
    return Channel.STATUS


def channel_check(payload: dict[str, Any], channel: str) -> None:
    """``PayloadError`` unless the event may come on ``channel``."""
    event = payload["event"]
    if channel == Channel.ALARM:
        if event not in ALARM_EVENTS:
            raise _schema(f"event {event!r} is not an alarm ({', '.join(ALARM_EVENTS)})")
    elif channel == Channel.HEARTBEAT:
        if event != HEARTBEAT_EVENT:
            raise _schema("event on the heartbeat channel must be 'heartbeat'")
    elif channel == Channel.STATUS:
        if event == HEARTBEAT_EVENT:
            raise _schema("'heartbeat' belongs on the heartbeat channel")
    else:
        raise _schema(f"unknown channel {channel!r}")
