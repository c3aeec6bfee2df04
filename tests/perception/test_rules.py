"""Rules over time, by moving ``now``: offline episodes, low battery, inactivity welfare checks;
each idempotent on re-run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from tests.perception.conftest import T0, device_make, inbound
from wangge.events.enums import Source
from wangge.events.models import Event
from wangge.perception.alarms import alarm_resolve, responder_tiers
from wangge.perception.enums import AlarmType, DeviceStatus, IssueKind
from wangge.perception.models import Alarm, DeviceIssue
from wangge.perception.rules import rules_sweep
from wangge.perception.schema import Channel
from wangge.perception.services import messages_ingest

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


def beat(device, seq, at, **extra):
    messages_ingest(messages=[inbound(device, seq=seq, at=at, **extra)], at=at)


def issues(device, kind):
    return DeviceIssue.objects.filter(device=device, kind=kind).order_by("id")


def test_heartbeat_loss_makes_one_maintenance_event_per_offline_episode(city):
    device = device_make("smoke", heartbeat_seconds=600)[0]
    beat(device, 1, T0)
    rules_sweep(now=T0 + timedelta(minutes=30))  # 3 × 10 min not yet over
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE and not issues(device, IssueKind.OFFLINE)
    rules_sweep(now=T0 + timedelta(minutes=31))
    rules_sweep(now=T0 + timedelta(minutes=45))  # idempotent
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    [issue] = issues(device, IssueKind.OFFLINE)
    assert issue.closed_at is None and issue.event.source == Source.SENSOR
    assert issue.event.category.code == "0502" and device.device_id in issue.event.title
    assert Event.objects.filter(external_ref=device.device_id).count() == 1
    beat(device, 2, T0 + H)  # back online: the episode ends at the next sweep
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    rules_sweep(now=T0 + H + timedelta(minutes=1))
    issue.refresh_from_db()
    assert issue.closed_at == T0 + H + timedelta(minutes=1)
    rules_sweep(now=T0 + 2 * H)  # silent again: a second episode
    assert issues(device, IssueKind.OFFLINE).count() == 2
    assert Event.objects.filter(external_ref=device.device_id).count() == 2


def test_low_battery_once_per_episode(city):
    device = device_make("gas")[0]
    beat(device, 1, T0, battery=15)
    rules_sweep(now=T0 + timedelta(minutes=1))
    rules_sweep(now=T0 + timedelta(minutes=2))
    [issue] = issues(device, IssueKind.LOW_BATTERY)
    assert issue.event.category.code == "0602"
    beat(device, 2, T0 + timedelta(minutes=3), battery=95)
    rules_sweep(now=T0 + timedelta(minutes=4))
    issue.refresh_from_db()
    assert issue.closed_at is not None
    beat(device, 3, T0 + timedelta(minutes=5), battery=10)
    rules_sweep(now=T0 + timedelta(minutes=6))
    assert issues(device, IssueKind.LOW_BATTERY).count() == 2


def _alone_house():
    from wangge.people.models import House

    return (
        House.objects.filter(
            residents__tags__code="elderly_alone", residents__moved_out__isnull=True
        )
        .exclude(devices__type="door")
        .order_by("id")
        .first()
    )


def _not_alone_house():
    from wangge.people.models import House

    return (
        House.objects.filter(residents__isnull=False, grid_code__startswith="510104")
        .exclude(residents__tags__code="elderly_alone")
        .exclude(devices__type="door")
        .order_by("id")
        .first()
    )


def inactivity(device):
    return Alarm.objects.filter(device=device, type=AlarmType.INACTIVITY).order_by("id")


def test_inactivity_welfare_check_once_per_quiet_spell(city):
    door = device_make("door", house=_alone_house())[0]
    beat(door, 1, T0, event="door_open", channel=Channel.STATUS)
    rules_sweep(now=T0 + 23 * H)
    assert not inactivity(door)
    rules_sweep(now=T0 + 25 * H)
    rules_sweep(now=T0 + 26 * H)
    [alarm] = inactivity(door)
    assert alarm.state == "new" and alarm.raised_at == T0 + 25 * H and alarm.event_id
    assert alarm.event.category.code == "0801"
    raised = alarm.steps.get(kind="raised")
    assert raised.note_key == "no_door" and raised.note_args["h"] == 24
    with translation.override("en"):
        assert raised.text.startswith("No door opening for 24 hours (since ")
    with translation.override("zh-hans"):
        assert raised.text.startswith("已 24 小时无开门")
    alarm_resolve(actor=responder_tiers(alarm)[0][0], alarm=alarm, note="visited, she is well")
    rules_sweep(now=T0 + 30 * H)  # the same quiet spell: no second alarm
    assert inactivity(door).count() == 1
    beat(door, 2, T0 + 31 * H, event="door_open", channel=Channel.STATUS)
    rules_sweep(now=T0 + 50 * H)
    assert inactivity(door).count() == 1
    rules_sweep(now=T0 + 56 * H)
    assert inactivity(door).count() == 2


def test_inactivity_hours_per_device_and_only_for_elderly_alone(city):
    door = device_make("door", house=_alone_house(), inactivity_hours=6)[0]
    other = device_make("door", house=_not_alone_house())[0]
    for d in (door, other):
        beat(d, 1, T0, event="door_open", channel=Channel.STATUS)
    rules_sweep(now=T0 + 7 * H)
    assert inactivity(door).count() == 1
    rules_sweep(now=T0 + 100 * H)
    assert not inactivity(other).exists()
