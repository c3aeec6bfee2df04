"""Selectors through the post's scope: dead letters (a community sees its devices' letters,
the whole city also the unknown ones), the cockpit's feed and counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.perception.conftest import T0, device_make, house_in, inbound
from tests.perception.test_alarms import raise_gas
from wangge.accounts.demo import COMMUNITY
from wangge.core.errors import NotFound, PermissionDenied
from wangge.perception import selectors as S
from wangge.perception.services import messages_ingest

pytestmark = pytest.mark.django_db


def test_dead_letters_by_scope(city, post_of):
    mine = device_make("smoke")[0]
    far = device_make("smoke", house=house_in("510104018"))[0]
    messages_ingest(
        messages=[
            inbound(mine, body=b"?"),
            inbound(far, body=b"?"),
            inbound("GHOST-1", seq=1),
        ]
    )
    community = {d.device_ref for d in S.dead_letter_list(actor=post_of("community"))}
    assert mine.device_id in community and far.device_id not in community
    assert "GHOST-1" not in community
    city_wide = {d.device_ref for d in S.dead_letter_list(actor=post_of("sysadmin"))}
    assert {mine.device_id, far.device_id, "GHOST-1"} <= city_wide
    counts = S.dead_letter_counts(actor=post_of("sysadmin"))
    assert counts["malformed"] >= 2 and counts["unknown_device"] >= 1
    with pytest.raises(PermissionDenied):
        S.dead_letter_list(actor=post_of("micro"))


def test_feed_and_counts(city, post_of):
    a = raise_gas()
    community = post_of("community")
    feed = S.alarm_feed(actor=community, code=COMMUNITY, since=T0 - timedelta(minutes=1))
    raised = [r["raised_at"] for r in feed]
    assert raised == sorted(raised, reverse=True)  # newest first (the demo's come before)
    [row] = [r for r in feed if r["id"] == a.pk]
    assert row["url"] == f"/sensing/alarms/{a.pk}/" and row["state"] == "new"
    assert "王" not in row["title"] and row["grid_code"] == a.grid_code
    counts = S.sensing_counts(actor=community, code=COMMUNITY, now=T0)
    assert counts["alarms_today"] >= 1 and counts["alarms_unacknowledged"] >= 1
    assert counts["devices"] >= counts["online"] >= 1
    with pytest.raises(NotFound):
        S.sensing_counts(actor=post_of("micro"), code=COMMUNITY)
    with pytest.raises(PermissionDenied):
        S.alarm_feed(actor=post_of("cadre"), code=COMMUNITY, since=None)


def test_messages_of_the_last_minute_under_a_node(city, post_of):
    from wangge.perception.models import DeviceMessage

    mine = device_make("smoke")[0]
    far = device_make("smoke", house=house_in("510104018"))[0]
    at = T0 + timedelta(days=400)  # a minute the demo city received nothing in
    batch = [inbound(mine, seq=s, at=at) for s in (101, 102, 103)] + [inbound(far, seq=101, at=at)]
    assert [o.status for o in messages_ingest(messages=batch, at=at)] == ["stored"] * 4
    messages_ingest(messages=[inbound(mine, seq=103, at=at)], at=at)  # a duplicate: not counted
    got = DeviceMessage.objects.get(device=far).received_at  # received a second after ``at``
    community = post_of("community")
    count = lambda code, now: S.sensing_counts(actor=community, code=code, now=now)  # noqa: E731
    assert count(COMMUNITY, got)["messages_minute"] == 3
    assert count(COMMUNITY, got + timedelta(seconds=59))["messages_minute"] == 3
    assert count(COMMUNITY, got + timedelta(seconds=61))["messages_minute"] == 0
    assert count(COMMUNITY, got - timedelta(seconds=1))["messages_minute"] == 0
    district = S.sensing_counts(actor=post_of("district"), code="510104", now=got)
    assert district["messages_minute"] == 4
    city_wide = S.sensing_counts(actor=post_of("commander"), code="5101", now=got)
    assert city_wide["messages_minute"] == 4
