"""The one ingestion pipeline: stored, duplicate, dead letters for every reason, retried
batches, constant queries per batch, device state, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.perception.conftest import T0, device_make, inbound
from wangge.accounts.scope import SYSTEM
from wangge.perception.enums import DeadReason, DeviceStatus
from wangge.perception.models import DeadLetter, DeviceMessage
from wangge.perception.schema import Channel, PayloadError, parse_payload
from wangge.perception.services import (
    dead_letter_store,
    device_disable,
    messages_ingest,
    messages_purge,
)

pytestmark = pytest.mark.django_db


def test_heartbeat_is_stored_and_updates_the_device(device):
    m = inbound(device, seq=7, battery=88, firmware="1.2.3", rssi=-70)
    [out] = messages_ingest(messages=[m], at=T0)
    assert out.status == "stored" and out.message_id and out.reason == ""
    row = DeviceMessage.objects.get(pk=out.message_id)
    assert (row.device_id, row.seq, row.channel, row.event) == (
        device.pk,
        7,
        "heartbeat",
        "heartbeat",
    )
    assert row.received_at == m.received_at and row.sent_at == T0 and row.transport == "mqtt"
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert device.last_seen_at == m.received_at == device.last_heartbeat_at
    assert (device.battery, device.firmware, device.rssi) == (88, "1.2.3", -70)


def test_device_state_never_moves_back_and_takes_the_newest_sequence(device):
    late = inbound(device, seq=5, at=T0 + timedelta(minutes=10), battery=50)
    messages_ingest(messages=[late])
    early = inbound(device, seq=4, at=T0, battery=90, channel=Channel.STATUS, event="battery")
    messages_ingest(messages=[early])
    device.refresh_from_db()
    assert device.last_seen_at == late.received_at
    assert device.battery == 90  # the second batch's only battery reading
    batch = [
        inbound(device, seq=9, at=T0 + timedelta(minutes=20), battery=30),
        inbound(device, seq=8, at=T0 + timedelta(minutes=21), battery=40),
    ]
    messages_ingest(messages=batch)
    device.refresh_from_db()
    assert device.battery == 30  # the highest sequence number wins within a batch
    assert device.last_seen_at == batch[1].received_at


def test_door_opening_on_status_is_activity(city):
    door, _key = device_make("door")
    messages_ingest(messages=[inbound(door, seq=1, event="door_open", channel=Channel.STATUS)])
    door.refresh_from_db()
    assert door.last_activity_at == T0
    assert door.last_heartbeat_at is None


def _dead(outcome, reason):
    assert outcome.status == "dead" and outcome.reason == reason, outcome


def test_every_dead_letter_reason(device):
    other, _ = device_make("gas")
    disabled, _ = device_make("smoke")
    device_disable(actor=SYSTEM, device=disabled)
    batch = [
        inbound(device, body=b"{not json", seq=1),
        inbound(device, body=json.dumps({"device": device.device_id}).encode()),
        inbound(device, body=b"x" * 9000),
        inbound("NO-SUCH-DEVICE", seq=1),
        inbound(device.device_id, body=inbound(other, seq=1).body),  # topic ≠ payload
        inbound(device, seq=2, type="gas"),
        inbound(disabled, seq=1),
        inbound(device, seq=3, event="smoke", channel=Channel.HEARTBEAT),
        inbound(device, seq=4),
        inbound(device, seq=4),  # the same sequence number twice in the batch
    ]
    out = messages_ingest(messages=batch, at=T0)
    _dead(out[0], DeadReason.MALFORMED)
    _dead(out[1], DeadReason.SCHEMA)
    _dead(out[2], DeadReason.TOO_LARGE)
    _dead(out[3], DeadReason.UNKNOWN_DEVICE)
    _dead(out[4], DeadReason.DEVICE_MISMATCH)
    _dead(out[5], DeadReason.TYPE_MISMATCH)
    _dead(out[6], DeadReason.DISABLED)
    _dead(out[7], DeadReason.SCHEMA)
    assert out[8].status == "stored"
    assert out[9].status == "duplicate" and out[9].reason == DeadReason.DUPLICATE
    rows = {d.reason: d for d in DeadLetter.objects.all()}
    assert set(rows) == {
        DeadReason.MALFORMED,
        DeadReason.SCHEMA,
        DeadReason.TOO_LARGE,
        DeadReason.UNKNOWN_DEVICE,
        DeadReason.DEVICE_MISMATCH,
        DeadReason.TYPE_MISMATCH,
        DeadReason.DISABLED,
        DeadReason.DUPLICATE,
    }
    assert rows[DeadReason.MALFORMED].body == "{not json"
    assert rows[DeadReason.TOO_LARGE].body_size == 9000
    assert len(rows[DeadReason.TOO_LARGE].body) == 2000  # bounded
    assert rows[DeadReason.UNKNOWN_DEVICE].device_ref == "NO-SUCH-DEVICE"
    assert rows[DeadReason.UNKNOWN_DEVICE].grid_code == ""
    assert rows[DeadReason.DISABLED].grid_code == disabled.grid_code
    assert rows[DeadReason.MALFORMED].device_id == device.pk
    assert DeviceMessage.objects.filter(device__in=[device, other, disabled]).count() == 1


def test_retried_batch_answers_duplicate_and_stores_nothing_twice(device):
    batch = [inbound(device, seq=s) for s in range(1, 6)]
    first = messages_ingest(messages=batch)
    assert [o.status for o in first] == ["stored"] * 5
    again = messages_ingest(messages=batch)
    assert [o.status for o in again] == ["duplicate"] * 5
    assert DeviceMessage.objects.filter(device=device).count() == 5
    assert DeadLetter.objects.filter(reason=DeadReason.DUPLICATE).count() == 5


def test_mixed_batch_keeps_input_order(device):
    other, _ = device_make("water")
    messages_ingest(messages=[inbound(device, seq=2)])
    batch = [
        inbound(other, seq=1),
        inbound(device, seq=2),  # stored before
        inbound("GHOST", seq=1),
        inbound(device, seq=3, event="battery", channel=Channel.STATUS, battery=15),
        inbound(other, body=b"[]"),
    ]
    out = messages_ingest(messages=batch)
    assert [o.status for o in out] == ["stored", "duplicate", "dead", "stored", "dead"]
    assert out[0].message_id != out[3].message_id
    assert DeviceMessage.objects.get(pk=out[3].message_id).event == "battery"


def _queries(batch) -> int:
    with CaptureQueriesContext(connection) as ctx:
        messages_ingest(messages=batch)
    return len(ctx.captured_queries)


def test_queries_per_batch_are_constant(city):
    devices = [device_make("smoke")[0] for _ in range(40)]
    small = [inbound(d, seq=1) for d in devices[:2]]
    big = [inbound(d, seq=s) for d in devices for s in range(2, 7)]  # 200 messages
    n_small, n_big = _queries(small), _queries(big)
    assert n_small == n_big <= 6
    with_dead = [*big[:10], inbound("GHOST", seq=1), inbound(devices[0], body=b"?")]
    assert (
        _queries([inbound(d, seq=s) for d in devices for s in range(10, 15)] + with_dead[10:])
        == n_big + 1
    )
    assert DeviceMessage.objects.filter(device__in=devices).count() == 2 + 200 + 200


def test_dead_letter_store_for_refused_requests(device):
    m = inbound(device, seq=1, transport="http")
    row = dead_letter_store(inbound=m, reason=DeadReason.BAD_SIGNATURE, detail="HMAC differs")
    assert (row.reason, row.device_id, row.grid_code, row.transport) == (
        "bad_signature",
        device.pk,
        device.grid_code,
        "http",
    )
    assert json.loads(row.body)["seq"] == 1
    with pytest.raises(ValueError):
        dead_letter_store(inbound=m, reason="whatever")


def test_purge_keeps_alarms_and_recent_heartbeats(device):
    old = T0 - timedelta(days=40)
    messages_ingest(
        messages=[
            inbound(device, seq=1, at=old),
            inbound(device, seq=2, at=T0),
            inbound(device, seq=3, at=old, event="tamper", channel=Channel.STATUS),
        ]
    )
    dead_letter_store(inbound=inbound(device, seq=9, at=old - timedelta(days=90)), reason="replay")
    out = messages_purge(now=T0, heartbeat_days=30, dead_days=90)
    assert out == {"heartbeats": 1, "dead_letters": 1}
    assert sorted(DeviceMessage.objects.filter(device=device).values_list("seq", flat=True)) == [
        2,
        3,
    ]
    assert messages_purge(now=T0, heartbeat_days=30, dead_days=90) == {
        "heartbeats": 0,
        "dead_letters": 0,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"time": "2026-11-29T14:00:00"},  # no offset
        {"seq": True},
        {"seq": -1},
        {"seq": "1"},
        {"battery": 101},
        {"type": "toaster"},
        {"event": "Smoke!"},
        {"value": {"a": 1}},
        {"device": ""},
        {"rssi": 1.5},
        {"channel": "other"},
    ],
)
def test_payload_schema_refuses(change):
    body = {
        "device": "D1",
        "type": "gas",
        "event": "gas",
        "value": 12.5,
        "time": "2026-11-29T14:00:00+08:00",
        "seq": 1,
    }
    body.update(change)
    with pytest.raises(PayloadError) as exc:
        parse_payload(json.dumps(body).encode())
    assert exc.value.reason == DeadReason.SCHEMA


def test_payload_schema_accepts_and_normalises():
    body = {
        "device": "D1",
        "type": "gas",
        "event": "gas",
        "value": 12.5,
        "time": "2026-11-29T06:00:00Z",
        "seq": 0,
        "battery": 55.4,
        "extra": 1,
    }
    p = parse_payload(json.dumps(body).encode())
    assert (
        p["time"] == datetime(2026, 11, 29, 6, tzinfo=UTC)
        and p["battery"] == 55
        and p["firmware"] is None
        and p["seq"] == 0
    )
    assert not hasattr(p, "extra") and "extra" not in p
