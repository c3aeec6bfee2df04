"""Demo step ``devices``: sensors in the homes of the demo district's elderly and vulnerable
residents, recent heartbeats, and a handful of alarms in various states — an open gas alarm in
the walk-through's home (an elderly woman living alone), escalated once; a smoke alarm closed
with its event; a false alarm; a door left quiet (welfare check); a couple of devices offline
or with a low battery (maintenance events). Everything goes through the real services.

The devices' keys are written to ``demo-devices.csv`` (mode 0600) in the data directory —
``device_id,type,key,grid_code`` — so ``wangge simulate-devices`` can sign HTTP messages.
Running the step again adds nothing (devices, messages and alarms are keyed).
"""

from __future__ import annotations

import csv
import json
import os
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.scope import SYSTEM
from wangge.demo.registry import DemoContext, demo_step
from wangge.perception.enums import AlarmType, DeviceType
from wangge.perception.models import Alarm, Device
from wangge.perception.schema import Channel, Inbound, default_channel

DISTRICT = "510104"
DEVICES_FILE = "demo-devices.csv"
MAX_HOMES = 120
WALKTHROUGH_MICRO = "510104017001001001"
PREFIX = {
    DeviceType.SMOKE: "SMK",
    DeviceType.GAS: "GAS",
    DeviceType.DOOR: "DOR",
    DeviceType.WATER: "WTR",
    DeviceType.BUTTON: "SOS",
    DeviceType.WEARABLE: "FAL",
}
HEARTBEAT = 300  # the demo devices beat every five minutes


def _device_id(dtype: str, house_id: int) -> str:
    return f"JJ-{PREFIX[DeviceType(dtype)]}-{house_id:06d}"


def _homes() -> list[int]:
    """Homes of elderly and vulnerable residents of the district, the walk-through's first."""
    from wangge.people.models import Resident

    vulnerable = Q(tags__code__in=("elderly_alone", "empty_nest", "disabled")) | ~Q(care_level="")
    ids = list(
        Resident.objects.filter(
            vulnerable,
            grid_code__startswith=DISTRICT,
            moved_out__isnull=True,
            house__isnull=False,
        )
        .order_by("house_id")
        .values_list("house_id", flat=True)
        .distinct()[:MAX_HOMES]
    )
    first = (
        Resident.objects.filter(
            grid_code__startswith=WALKTHROUGH_MICRO,
            tags__code="elderly_alone",
            moved_out__isnull=True,
            house__isnull=False,
        )
        .order_by("-id")
        .values_list("house_id", flat=True)
        .first()
    )
    if first is not None:
        ids = [first, *[i for i in ids if i != first]]
    return ids


def _alone(house_ids: list[int]) -> set[int]:
    from wangge.people.models import Resident

    return set(
        Resident.objects.filter(
            house_id__in=house_ids, tags__code="elderly_alone", moved_out__isnull=True
        ).values_list("house_id", flat=True)
    )


def _message(device: Device, event: str, seq: int, at, **extra) -> Inbound:
    body = {
        "device": device.device_id,
        "type": device.type,
        "event": event,
        "value": extra.pop("value", None),
        "time": at.isoformat(),
        "seq": seq,
        **extra,
    }
    channel = extra.pop("channel", None) or default_channel(event)
    body.pop("channel", None)
    return Inbound(
        device_id=device.device_id,
        channel=channel,
        body=json.dumps(body).encode(),
        transport="http",
        received_at=at,
    )


@demo_step("devices", order=68, description=_("sensors in vulnerable residents' homes and alarms"))
def devices(ctx: DemoContext) -> dict:
    from wangge.people.models import House
    from wangge.perception.devices import device_key
    from wangge.perception.services import device_register

    now = timezone.now().replace(microsecond=0)
    homes = _homes()
    if not homes:
        return {"devices": 0}
    alone = _alone(homes)
    houses = House.objects.in_bulk(homes)
    rng = ctx.rng("devices")
    existing = {d.device_id: d for d in Device.objects.filter(device_id__startswith="JJ-")}
    keys: dict[str, str] = {}
    made: list[Device] = []
    progress = ctx.progress("devices", len(homes))
    for house_id in homes:
        house = houses[house_id]
        types = [DeviceType.SMOKE, DeviceType.GAS]
        if house_id in alone:
            types += [DeviceType.DOOR, DeviceType.BUTTON]
        if rng.random() < 0.15:
            types.append(DeviceType.WATER)
        if house_id in alone and rng.random() < 0.3:
            types.append(DeviceType.WEARABLE)
        for dtype in types:
            did = _device_id(dtype, house_id)
            d = existing.get(did)
            if d is None:
                d, key = device_register(
                    actor=SYSTEM,
                    device_id=did,
                    type=dtype,
                    house=house,
                    location=str(dtype.label).split(" (")[0],
                    heartbeat_seconds=HEARTBEAT,
                    at=now - timedelta(days=60),
                )
                made.append(d)
            else:
                key = device_key(d)
            keys[did] = key
        progress.advance()
    progress.finish()

    all_devices = list(Device.objects.filter(device_id__in=keys).order_by("device_id"))
    _heartbeats(ctx, all_devices, now)
    alarms = _alarms(ctx, all_devices, now) if made else {}

    if ctx.data_dir is not None:
        path = ctx.data_dir / DEVICES_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["device_id", "type", "key", "grid_code"])
            for d in all_devices:
                w.writerow([d.device_id, d.type, keys[d.device_id], d.grid_code])
        ctx.log(f"device keys for the simulator: {path}")
    return {"devices": len(all_devices), "new": len(made), **alarms}


def _heartbeats(ctx: DemoContext, devices: list[Device], now) -> None:
    """A recent heartbeat (and for door magnets a recent opening) per device; sequence numbers
    from the clock, so a re-run only adds newer ones. Two devices fell silent hours ago, three
    run low on battery, one old woman's door stayed shut for a day and a half."""
    from wangge.perception.services import messages_ingest

    rng = ctx.rng("devices", "heartbeats")
    seq = int(now.timestamp())
    silent = {d.device_id for d in devices[5:7]}
    low = {d.device_id for d in devices[10:13]}
    quiet = next((d.device_id for d in devices[20:] if d.type == DeviceType.DOOR), None)
    batch: list[Inbound] = []
    for d in devices:
        ago = (
            timedelta(hours=3)
            if d.device_id in silent
            else timedelta(seconds=int(rng.integers(5, HEARTBEAT)))
        )
        battery = int(rng.integers(12, 19)) if d.device_id in low else int(rng.integers(40, 100))
        batch.append(
            _message(
                d,
                "heartbeat",
                seq,
                now - ago,
                battery=battery,
                firmware="2.3.1",
                rssi=-int(rng.integers(55, 95)),
            )
        )
        if d.type == DeviceType.DOOR:
            opened = (
                timedelta(hours=36)
                if d.device_id == quiet
                else timedelta(minutes=int(rng.integers(10, 600)))
            )
            batch.append(_message(d, "door_open", seq - 1, now - opened, channel=Channel.STATUS))
    for start in range(0, len(batch), 500):
        messages_ingest(messages=batch[start : start + 500], at=now)


def _alarms(ctx: DemoContext, devices: list[Device], now) -> dict:
    """The alarms the pages and the cockpit show (made once, with the devices)."""
    from wangge.events.enums import EventAction, RejectReason
    from wangge.events.services import event_transition
    from wangge.perception.alarms import alarm_false, alarms_escalate, responder_tiers
    from wangge.perception.rules import rules_sweep
    from wangge.perception.services import messages_ingest

    by_type: dict[str, list[Device]] = {}
    for d in devices:
        by_type.setdefault(d.type, []).append(d)
    seq = int(now.timestamp()) + 1
    out = {}
    with transaction.atomic():
        # an open gas alarm in the walk-through's home, not acknowledged: escalated once
        gas = next(
            (
                d
                for d in by_type.get(DeviceType.GAS, [])
                if d.grid_code.startswith(WALKTHROUGH_MICRO)
            ),
            by_type[DeviceType.GAS][0],
        )
        raised = now - timedelta(minutes=7)
        messages_ingest(
            messages=[_message(gas, "gas", seq, raised, value=32.5, channel=Channel.ALARM)],
            at=raised,
        )
        alarms_escalate(now=raised + timedelta(minutes=5, seconds=10))
        # a smoke alarm yesterday, closed with its event (the community found it a duplicate
        # of the 12345 call the fire brigade had already answered)
        smoke = by_type[DeviceType.SMOKE][1]
        at = now - timedelta(days=1, hours=3)
        messages_ingest(
            messages=[_message(smoke, "smoke", seq, at, value="ALARM", channel=Channel.ALARM)],
            at=at,
        )
        a = Alarm.objects.filter(device=smoke, type=AlarmType.SMOKE).order_by("-id").first()
        dispatcher = responder_tiers(a)[-1][0] if responder_tiers(a) else None
        if a and a.event_id and dispatcher is not None:
            event_transition(
                actor=dispatcher,
                event=a.event,
                action=EventAction.REJECT,
                note="消防已到场处置，与12345工单重复",
                data={"reason": RejectReason.DUPLICATE},
                at=at + timedelta(minutes=20),
            )
        # a false alarm on an emergency button two days ago
        buttons = by_type.get(DeviceType.BUTTON) or by_type[DeviceType.SMOKE]
        button = buttons[min(2, len(buttons) - 1)]
        at = now - timedelta(days=2, hours=5)
        messages_ingest(messages=[_message(button, "sos", seq, at, channel=Channel.ALARM)], at=at)
        b = Alarm.objects.filter(device=button).order_by("-id").first()
        tiers = responder_tiers(b) if b else []
        if b and tiers:
            alarm_false(
                actor=tiers[0][0],
                alarm=b,
                note="老人误按，已电话确认平安",
                at=at + timedelta(minutes=3),
            )
        out["rules"] = rules_sweep(now=now)
    out["alarms"] = Alarm.objects.filter(grid_code__startswith=DISTRICT).count()
    return out
