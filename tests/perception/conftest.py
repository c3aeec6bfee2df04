"""Helpers for the perception tests: devices registered through the service in homes of the
demo district, and messages built as a transport would hand them to the pipeline."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from wangge.accounts.demo import MICRO

# The tests' clock: a month before the demo was built, so moving it forward by days never
# reaches the demo's own devices (their heartbeats are the build's "now").
T0 = (datetime.now(UTC) - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
_ids = itertools.count(1)


def house_in(prefix: str = MICRO, *, offset: int = 0):
    from wangge.people.models import House

    return House.objects.filter(grid_code__startswith=prefix).order_by("id")[offset]


def device_make(type: str = "smoke", *, house=None, device_id: str | None = None, **kw):
    """A registered device and its key."""
    from wangge.accounts.scope import SYSTEM
    from wangge.perception.services import device_register

    house = house or house_in()
    device_id = device_id or f"T-{type}-{next(_ids):05d}"
    return device_register(actor=SYSTEM, device_id=device_id, type=type, house=house, at=T0, **kw)


def payload(device, *, event: str = "heartbeat", seq: int = 1, at: datetime = T0, **extra):
    body = {
        "device": device if isinstance(device, str) else device.device_id,
        "type": extra.pop("type", None)
        or (device.type if not isinstance(device, str) else "smoke"),
        "event": event,
        "value": extra.pop("value", None),
        "time": at.isoformat(),
        "seq": seq,
    }
    body.update(extra)
    return body


def inbound(
    device,
    *,
    event: str = "heartbeat",
    seq: int = 1,
    channel: str | None = None,
    at: datetime = T0,
    body: bytes | None = None,
    transport: str = "mqtt",
    **extra,
):
    from wangge.perception.schema import Inbound, default_channel

    device_id = device if isinstance(device, str) else device.device_id
    if body is None:
        body = json.dumps(payload(device, event=event, seq=seq, at=at, **extra)).encode()
    return Inbound(
        device_id=device_id,
        channel=channel or default_channel(event),
        body=body,
        transport=transport,
        received_at=at + timedelta(seconds=1),
    )


@pytest.fixture
def device(city):
    return device_make("smoke")[0]
