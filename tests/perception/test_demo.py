"""The demo step: devices in vulnerable homes, heartbeats, the alarms the pages show, and the
keys file the simulator signs with."""

from __future__ import annotations

import csv

import pytest

from wangge.demo.registry import DemoContext
from wangge.perception.demo import DEVICES_FILE, WALKTHROUGH_MICRO, devices
from wangge.perception.enums import AlarmState, AlarmType, DeviceStatus, IssueKind
from wangge.perception.models import Alarm, Device, DeviceIssue
from wangge.perception.services import device_key

pytestmark = pytest.mark.django_db


def test_demo_devices_and_alarms(city):
    n = Device.objects.filter(device_id__startswith="JJ-").count()
    assert 100 <= n <= 1200
    assert Device.objects.filter(status=DeviceStatus.ONLINE).count() >= n - 10
    gas = Alarm.objects.get(type=AlarmType.GAS, state=AlarmState.NEW)
    assert gas.grid_code.startswith(WALKTHROUGH_MICRO) and gas.level == 1 and gas.event_id
    assert gas.house.residents.filter(tags__code="elderly_alone").exists()
    assert Alarm.objects.filter(state=AlarmState.CLOSED_WITH_EVENT).count() >= 1
    assert Alarm.objects.filter(state=AlarmState.FALSE_ALARM).count() >= 1
    assert Alarm.objects.filter(type=AlarmType.INACTIVITY, state=AlarmState.NEW).count() >= 1
    assert DeviceIssue.objects.filter(kind=IssueKind.OFFLINE, event__isnull=False).count() == 2
    assert DeviceIssue.objects.filter(kind=IssueKind.LOW_BATTERY, event__isnull=False).count() >= 3


def test_demo_step_reruns_cleanly_and_writes_the_keys(city, tmp_path):
    before = (Device.objects.count(), Alarm.objects.count())
    out = devices(DemoContext(verbose=False, data_dir=tmp_path))
    assert out["new"] == 0 and (Device.objects.count(), Alarm.objects.count()) == before
    path = tmp_path / DEVICES_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == ["device_id", "type", "key", "grid_code"]
    assert len(rows) == Device.objects.filter(device_id__startswith="JJ-").count()
    d = Device.objects.get(device_id=rows[0]["device_id"])
    assert device_key(d) == rows[0]["key"] and d.grid_code == rows[0]["grid_code"]
