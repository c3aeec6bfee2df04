"""Alarms on the cockpit: the live feed carries them (no personal data) and the sensors' counts
to the posts that see the sensors, and to nobody else."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.perception.conftest import device_make, inbound
from wangge.perception.schema import Channel
from wangge.perception.services import messages_ingest

pytestmark = pytest.mark.django_db
JINJIANG = "510104"


def test_the_feed_and_the_page_show_alarms_to_whoever_sees_the_sensors(client_as, monkeypatch):
    device, _key = device_make("gas")
    now = timezone.now()
    [out] = messages_ingest(
        messages=[inbound(device, event="gas", channel=Channel.ALARM, value=30, seq=7, at=now)],
        at=now,
    )
    assert out.status == "stored" and out.alarm_id
    cache.clear()
    c = client_as("district")
    feed = c.get(f"/api/cockpit/{JINJIANG}/feed").json()
    mine = [a for a in feed["alarms"] if a["id"] == out.alarm_id]
    assert mine and mine[0]["type"] == "gas" and mine[0]["url"].endswith(f"/{out.alarm_id}/")
    assert feed["sensing"]["alarms_open"] >= 1 and feed["sensing"]["devices"] >= 1
    # no personal data in the feed: neither the residents' names nor the address
    residents = list(device.house.residents.values_list("name", flat=True))
    text = json.dumps(feed["alarms"], ensure_ascii=False)
    assert residents and not any(name in text for name in residents)
    assert device.house.building.address not in text
    page = c.get(f"/cockpit/{JINJIANG}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Open alarms" in page and "Live: new events and alarms" in page
    # a post whose role does not see the sensors gets neither
    from dataclasses import replace

    from wangge.accounts.enums import Perm, Role
    from wangge.accounts.rules import ROLE_RULES

    rule = ROLE_RULES[Role.DISTRICT_DISPATCHER]
    monkeypatch.setitem(
        ROLE_RULES, Role.DISTRICT_DISPATCHER, replace(rule, perms=rule.perms - {Perm.SENSING_VIEW})
    )
    cache.clear()
    feed = c.get(f"/api/cockpit/{JINJIANG}/feed").json()
    assert feed["alarms"] is None and feed["sensing"] is None
    page = c.get(f"/cockpit/{JINJIANG}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Open alarms" not in page and "Live: new events and alarms" not in page
