"""The one pipeline every message goes through, whatever the transport (HTTP or MQTT).

``messages_ingest(messages=[Inbound, …])`` answers one ``Outcome`` per message, in input
order, and writes the whole batch in one transaction with a constant number of statements:

1. parse and check every body (``schema.parse_payload``, the event against the channel, the
   device id in the topic/header against the payload's) — no query;
2. fetch the batch's devices in one query, locked in id order (two bridges splitting one
   device's messages never deadlock on its row);
3. insert the message rows in one ``INSERT … ON CONFLICT (device, seq) DO NOTHING RETURNING``
   — the rows it returns are the new ones, every other one was stored before (a retried batch
   after a crash between storing and acknowledging answers "duplicate" for each);
4. update the devices' last message, heartbeat, door activity, battery, firmware and status in
   one statement;
5. raise or repeat an alarm for each new alarm message (alarms are rare: a few queries each);
6. write the dead letters (malformed, schema, unknown or disabled device, mismatched id or type,
   duplicate) in one statement, with the reason and the raw body (bounded).

Bad input never raises: it is answered "dead" (or "duplicate") and kept for inspection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from wangge.perception.enums import DeadReason, DeviceStatus
from wangge.perception.models import DEAD_BODY_CHARS, DeadLetter, Device, DeviceMessage
from wangge.perception.schema import (
    DOOR_OPEN,
    Channel,
    Inbound,
    Outcome,
    PayloadError,
    channel_check,
    parse_payload,
    valid_device_id,
)

CHUNK = 1_000  # rows per statement on SQLite (its bound-parameter limit)

STORED, DUPLICATE, DEAD = "stored", "duplicate", "dead"


def _dead_row(m: Inbound, reason: str, detail: str, device, at: datetime):
    body = m.body[: DEAD_BODY_CHARS * 4].decode("utf-8", "replace")[:DEAD_BODY_CHARS]
    ref = m.device_id if isinstance(m.device_id, str) else ""
    return DeadLetter(
        received_at=m.received_at or at,
        transport=str(m.transport)[:4],
        channel=str(m.channel)[:10],
        device_ref=ref[:64],
        device_id=device.pk if device else None,
        grid_code=device.grid_code if device else "",
        reason=reason,
        detail=detail[:200],
        body=body,
        body_size=len(m.body),
    )


def dead_letter_store(
    *, inbound: Inbound, reason: str, detail: str = "", at: datetime | None = None
) -> DeadLetter:
    """Keep a message refused before parsing (an HTTP request with a wrong signature or an
    expired timestamp) with the reason and its raw body."""
    at = at or timezone.now()
    DeadReason(reason)  # an enum value, never a free string
    device = None
    if valid_device_id(inbound.device_id):
        device = Device.objects.filter(device_id=inbound.device_id).only("id", "grid_code").first()
    row = _dead_row(inbound, reason, detail, device, at)
    row.save(force_insert=True)
    return row


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def messages_ingest(*, messages: Sequence[Inbound], at: datetime | None = None) -> list[Outcome]:
    """Store a batch of inbound messages; one ``Outcome`` per message in input order.

    ``at`` is the processing time (when alarms are raised and their escalation clock starts);
    each message keeps its own ``received_at``. One transaction; a constant number of queries
    for a batch without alarms."""
    from wangge.perception import alarms

    at = at or timezone.now()
    outcomes: list[Outcome | None] = [None] * len(messages)
    dead: list[tuple[int, str, str]] = []  # (index, reason, detail)
    ok: list[tuple[int, Inbound, dict]] = []
    for i, m in enumerate(messages):
        try:
            payload = parse_payload(m.body)
            channel_check(payload, m.channel)
        except PayloadError as exc:
            dead.append((i, exc.reason, exc.detail))
            continue
        if payload["device"] != m.device_id:
            dead.append((i, DeadReason.DEVICE_MISMATCH, f"payload names {payload['device']!r}"))
            continue
        ok.append((i, m, payload))

    wanted = {m.device_id for m in messages if valid_device_id(m.device_id)}
    with transaction.atomic():
        devices = _devices_locked(wanted)
        fresh: list[tuple[int, Inbound, dict, _Device]] = []
        seen: set[tuple[int, int]] = set()
        for i, m, payload in ok:
            device = devices.get(m.device_id)
            if device is None:
                dead.append((i, DeadReason.UNKNOWN_DEVICE, "no device has this id"))
            elif device.status == DeviceStatus.DISABLED:
                dead.append((i, DeadReason.DISABLED, "the device is disabled"))
            elif payload["type"] != device.type:
                dead.append(
                    (
                        i,
                        DeadReason.TYPE_MISMATCH,
                        f"registered as {device.type}, not {payload['type']}",
                    )
                )
            elif (device.pk, payload["seq"]) in seen:
                dead.append((i, DeadReason.DUPLICATE, f"seq {payload['seq']} twice in the batch"))
            else:
                seen.add((device.pk, payload["seq"]))
                fresh.append((i, m, payload, device))

        new_ids = _insert_messages(fresh)
        stored: list[tuple[int, Inbound, dict, _Device, int]] = []
        for i, m, payload, device in fresh:
            pk = new_ids.get((device.pk, payload["seq"]))
            if pk is None:
                dead.append((i, DeadReason.DUPLICATE, f"seq {payload['seq']} already stored"))
            else:
                stored.append((i, m, payload, device, pk))
                outcomes[i] = Outcome(status=STORED, message_id=pk)
        _update_devices(stored)

        for i, m, payload, device, pk in stored:
            if m.channel == Channel.ALARM:
                alarm = alarms.alarm_from_message(
                    device=device, payload=payload, message_id=pk, at=at
                )
                outcomes[i].alarm_id = alarm.pk  # type: ignore[union-attr]

        rows = []
        for i, reason, detail in dead:
            m = messages[i]
            rows.append(_dead_row(m, reason, detail, devices.get(m.device_id), at))
            status = DUPLICATE if reason == DeadReason.DUPLICATE else DEAD
            outcomes[i] = Outcome(status=status, reason=reason)
        if rows:
            DeadLetter.objects.bulk_create(rows, batch_size=CHUNK)
    return outcomes  # type: ignore[return-value]


@dataclass(frozen=True)
class _Device:
    """What the pipeline needs of a device (no model instance per message)."""

    pk: int
    device_id: str
    type: str
    status: str
    grid_code: str
    house_id: int | None
    heartbeat_seconds: int


_DEVICE_COLUMNS = "id, device_id, type, status, grid_code, house_id, heartbeat_seconds"


def _cursor():
    """A cursor on the transaction's connection. On PostgreSQL a server-side-binding psycopg
    cursor: Django's client-side binding would quote every array element in Python."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        return psycopg.Cursor(connection.connection)
    return connection.cursor()


def _devices_locked(ids: set[str]) -> dict[str, _Device]:
    """The batch's devices by id, their rows locked in id order (one query)."""
    if not ids:
        return {}
    table = Device._meta.db_table
    with _cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM {table} WHERE device_id = ANY(%s) "  # noqa: S608
                "ORDER BY id FOR UPDATE",
                [sorted(ids)],
            )
        else:
            marks = ", ".join(["%s"] * len(ids))
            cur.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM {table} WHERE device_id IN ({marks})",  # noqa: S608
                sorted(ids),
            )
        return {row[1]: _Device(*row) for row in cur.fetchall()}


_MESSAGE_COLUMNS = (
    "device_id",
    "seq",
    "channel",
    "event",
    "value",
    "battery",
    "sent_at",
    "received_at",
    "transport",
)
_PG_TYPES = (
    "bigint",
    "bigint",
    "varchar",
    "varchar",
    "varchar",
    "smallint",
    "timestamptz",
    "timestamptz",
    "varchar",
)


def _insert_messages(fresh) -> dict[tuple[int, int], int]:
    """Insert the message rows that are new; ``{(device pk, seq): message id}`` of those."""
    if not fresh:
        return {}
    table = DeviceMessage._meta.db_table
    cols = ", ".join(_MESSAGE_COLUMNS)
    tail = "ON CONFLICT (device_id, seq) DO NOTHING RETURNING id, device_id, seq"
    rows = [
        (
            device.pk,
            payload["seq"],
            m.channel,
            payload["event"],
            _value_text(payload["value"])[:100],
            payload["battery"],
            payload["time"],
            m.received_at,
            str(m.transport)[:4],
        )
        for _i, m, payload, device in fresh
    ]
    out: dict[tuple[int, int], int] = {}
    with _cursor() as cur:
        if connection.vendor == "postgresql":
            # one JSON parameter (encoded in C, parsed by the server) instead of arrays that
            # psycopg would quote element by element in Python
            keys = [f"c{i}" for i in range(len(_MESSAGE_COLUMNS))]
            doc = json.dumps([dict(zip(keys, r, strict=True)) for r in rows], default=_json_default)
            spec = ", ".join(f"{k} {t}" for k, t in zip(keys, _PG_TYPES, strict=True))
            cur.execute(
                f"INSERT INTO {table} ({cols}) SELECT {', '.join(keys)} "  # noqa: S608
                f"FROM json_to_recordset(%s::json) AS t({spec}) {tail}",
                [doc],
            )
            for pk, device_id, seq in cur.fetchall():
                out[(device_id, seq)] = pk
        else:
            adapt = connection.ops.adapt_datetimefield_value
            marks = "(" + ", ".join(["%s"] * len(_MESSAGE_COLUMNS)) + ")"
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                params: list[Any] = []
                for r in chunk:
                    params.extend((*r[:6], adapt(r[6]), adapt(r[7]), r[8]))
                values = ", ".join([marks] * len(chunk))
                cur.execute(
                    f"INSERT INTO {table} ({cols}) VALUES {values} {tail}",  # noqa: S608
                    params,
                )
                for pk, device_id, seq in cur.fetchall():
                    out[(device_id, seq)] = pk
    return out


def _json_default(v):
    if isinstance(v, datetime):
        return v.isoformat()
    raise TypeError(type(v))


_HEARTBEAT, _STATUS = Channel.HEARTBEAT.value, Channel.STATUS.value


def _update_devices(stored) -> None:
    """One statement: each device's newest message, heartbeat and door opening (never moving
    back), battery, firmware and signal of its highest sequence number that carried them, and
    offline → online."""
    if not stored:
        return
    # pk → [seen, heartbeat, door opened, battery, firmware, rssi, seq of each of the last three]
    per: dict[int, list] = {}
    beat: dict[int, int] = {}
    for _i, m, payload, device, _pk in stored:
        d = per.get(device.pk)
        if d is None:
            d = per[device.pk] = [None, None, None, None, None, None, -1, -1, -1]
            beat[device.pk] = device.heartbeat_seconds
        at = m.received_at
        if d[0] is None or at > d[0]:
            d[0] = at
        if m.channel == _HEARTBEAT:
            if d[1] is None or at > d[1]:
                d[1] = at
        elif m.channel == _STATUS and payload["event"] == DOOR_OPEN:
            t = payload["time"]
            if d[2] is None or t > d[2]:
                d[2] = t
        seq = payload["seq"]
        for j, src in ((3, "battery"), (4, "firmware"), (5, "rssi")):
            v = payload[src]
            if v is not None and seq > d[j + 3]:
                d[j], d[j + 3] = v, seq
    rows = [
        (pk, d[0], d[0] + timedelta(seconds=3 * beat[pk]), d[1], d[2], d[3], d[4], d[5])
        for pk, d in sorted(per.items())
    ]
    table = Device._meta.db_table
    offline, online = DeviceStatus.OFFLINE.value, DeviceStatus.ONLINE.value
    with _cursor() as cur:
        if connection.vendor == "postgresql":
            keys = ("id", "seen", "oa", "hb", "act", "battery", "fw", "rssi")
            doc = json.dumps([dict(zip(keys, r, strict=True)) for r in rows], default=_json_default)
            cur.execute(
                f"""UPDATE {table} AS d SET
                    last_seen_at = GREATEST(d.last_seen_at, v.seen),
                    offline_after = GREATEST(d.offline_after, v.oa),
                    last_heartbeat_at = GREATEST(d.last_heartbeat_at, v.hb),
                    last_activity_at = GREATEST(d.last_activity_at, v.act),
                    battery = COALESCE(v.battery, d.battery),
                    firmware = COALESCE(v.fw, d.firmware),
                    rssi = COALESCE(v.rssi, d.rssi),
                    status = CASE WHEN d.status = %s THEN %s ELSE d.status END
                FROM json_to_recordset(%s::json) AS v(id bigint, seen timestamptz,
                     oa timestamptz, hb timestamptz, act timestamptz, battery smallint,
                     fw varchar, rssi smallint)
                WHERE d.id = v.id""",  # noqa: S608
                [offline, online, doc],
            )
        else:
            adapt = connection.ops.adapt_datetimefield_value
            marks = "(" + ", ".join(["%s"] * 8) + ")"

            def later(col: str, v: str) -> str:
                return (
                    f"CASE WHEN {v} IS NOT NULL AND ({col} IS NULL OR {col} < {v}) "
                    f"THEN {v} ELSE {col} END"
                )

            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                params: list[Any] = []
                for pk, seen, oa, hb, act, battery, fw, rssi in chunk:
                    params.extend(
                        (
                            pk,
                            adapt(seen),
                            adapt(oa),
                            adapt(hb) if hb else None,
                            adapt(act) if act else None,
                            battery,
                            fw,
                            rssi,
                        )
                    )
                values = ", ".join([marks] * len(chunk))
                cur.execute(
                    f"""WITH v(v_id, v_seen, v_oa, v_hb, v_act, v_battery, v_fw, v_rssi)
                    AS (VALUES {values})
                    UPDATE {table} SET
                        last_seen_at = {later("last_seen_at", "v_seen")},
                        offline_after = {later("offline_after", "v_oa")},
                        last_heartbeat_at = {later("last_heartbeat_at", "v_hb")},
                        last_activity_at = {later("last_activity_at", "v_act")},
                        battery = COALESCE(v_battery, battery),
                        firmware = COALESCE(v_fw, firmware),
                        rssi = COALESCE(v_rssi, rssi),
                        status = CASE WHEN status = %s THEN %s ELSE status END
                    FROM v WHERE {table}.id = v_id""",  # noqa: S608
                    [*params, offline, online],
                )


def messages_purge(
    *, now: datetime | None = None, heartbeat_days: int | None = None, dead_days: int | None = None
) -> dict[str, int]:
    """Delete heartbeats older than ``WANGGE_SENSING_HEARTBEAT_DAYS`` (default 30) and dead
    letters older than ``WANGGE_SENSING_DEAD_LETTER_DAYS`` (default 90), in chunks so no long
    lock is held. Alarm and status messages are kept. Idempotent."""
    now = now or timezone.now()
    if heartbeat_days is None:
        heartbeat_days = int(getattr(settings, "WANGGE_SENSING_HEARTBEAT_DAYS", 30))
    if dead_days is None:
        dead_days = int(getattr(settings, "WANGGE_SENSING_DEAD_LETTER_DAYS", 90))
    out = {"heartbeats": 0, "dead_letters": 0}
    jobs = (
        (
            "heartbeats",
            DeviceMessage.objects.filter(
                channel=Channel.HEARTBEAT, received_at__lt=now - timedelta(days=heartbeat_days)
            ),
        ),
        (
            "dead_letters",
            DeadLetter.objects.filter(received_at__lt=now - timedelta(days=dead_days)),
        ),
    )
    for name, qs in jobs:
        while True:
            ids = list(qs.values_list("id", flat=True)[:10_000])
            if not ids:
                break
            qs.model.objects.filter(id__in=ids).delete()
            out[name] += len(ids)
    return out
