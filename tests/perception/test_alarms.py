"""Alarms: raised by a message, one open per device and type, pushed to the first responder
on commit, escalated by moving time, tied to their event, handled by workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from tests.perception.conftest import T0, device_make, house_in, inbound
from wangge.accounts.demo import COMMUNITY
from wangge.accounts.scope import SYSTEM
from wangge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from wangge.events.enums import EventAction, EventState, Notice, RejectReason, Source, Urgency
from wangge.events.models import Notification
from wangge.events.services import event_transition
from wangge.perception.alarms import (
    alarm_acknowledge,
    alarm_false,
    alarm_resolve,
    alarms_escalate,
    responder_tiers,
)
from wangge.perception.enums import AlarmState, IssueKind, StepKind
from wangge.perception.models import Alarm, AlarmStep, DeviceIssue
from wangge.perception.schema import Channel
from wangge.perception.services import messages_ingest
from wangge.workforce.selectors import responsible_posts

pytestmark = pytest.mark.django_db


def raise_gas(device=None, *, seq: int = 1, at=T0):
    device = device or device_make("gas")[0]
    [out] = messages_ingest(
        messages=[inbound(device, seq=seq, event="gas", channel=Channel.ALARM, value=35.5, at=at)],
        at=at,
    )
    assert out.status == "stored" and out.alarm_id
    return Alarm.objects.select_related("event").get(pk=out.alarm_id)


def test_alarm_message_raises_alarm_event_and_notice(city):
    alarm = raise_gas()
    assert (alarm.type, alarm.state, alarm.count, alarm.value) == ("gas", "new", 1, "35.5")
    assert alarm.raised_at == T0 and alarm.next_escalation_at == T0 + timedelta(minutes=5)
    assert alarm.house_id and alarm.grid_code == alarm.house.grid_code
    e = alarm.event
    assert e is not None and e.source == Source.SENSOR and e.urgency == Urgency.EMERGENCY
    assert e.category.code == "0601" and e.idem_key == f"alarm-{alarm.pk}"
    assert e.grid_code == alarm.grid_code and e.state == EventState.REPORTED
    first = responsible_posts(actor=SYSTEM, grid_code=alarm.grid_code)[0]
    notices = Notification.objects.filter(kind=Notice.ALARM, link=f"/sensing/alarms/{alarm.pk}/")
    assert [n.post_id for n in notices] == [first.pk]
    assert "Gas leak" in notices[0].text and str(alarm.house.building.address) in notices[0].text
    kinds = list(alarm.steps.values_list("kind", flat=True))
    assert kinds == [StepKind.RAISED, StepKind.EVENT_OPENED, StepKind.NOTIFIED]


def test_repeat_while_open_counts_and_opens_nothing_new(city):
    alarm = raise_gas()
    again = raise_gas(alarm.device, seq=2, at=T0 + timedelta(seconds=30))
    assert again.pk == alarm.pk and again.count == 2 and again.last_at == T0 + timedelta(seconds=30)
    assert Alarm.objects.filter(device=alarm.device).count() == 1
    assert Notification.objects.filter(link__endswith=f"/{alarm.pk}/").count() == 1


def test_notice_is_delivered_on_commit(city, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        alarm = raise_gas()
    assert callbacks
    n = Notification.objects.get(kind=Notice.ALARM, link__endswith=f"/{alarm.pk}/")
    assert n.delivered_at is not None and n.attempts == 1


def test_escalation_steps_by_moving_time(city, post_of):
    alarm = raise_gas()
    tiers = responder_tiers(alarm)
    assert len(tiers) == 3  # micro-grid worker, grid worker, community duty post
    community = post_of("community")
    assert community in tiers[2]
    assert alarms_escalate(now=T0 + timedelta(minutes=4)) == 0
    assert alarms_escalate(now=T0 + timedelta(minutes=5)) == 1
    assert alarms_escalate(now=T0 + timedelta(minutes=5)) == 0  # idempotent
    alarm.refresh_from_db()
    assert alarm.level == 1 and alarm.next_escalation_at == T0 + timedelta(minutes=10)
    mine = Notification.objects.filter(link=f"/sensing/alarms/{alarm.pk}/")
    esc = mine.filter(kind=Notice.ALARM_ESCALATED)
    assert [n.post_id for n in esc] == [tiers[1][0].pk]
    assert alarms_escalate(now=T0 + timedelta(minutes=10)) == 1
    alarm.refresh_from_db()
    assert alarm.level == 2 and alarm.next_escalation_at is None
    assert community.pk in esc.values_list("post_id", flat=True)
    steps = AlarmStep.objects.filter(alarm=alarm, kind=StepKind.ESCALATED)
    assert steps.count() == 1 + len(tiers[2])
    assert all(s.note_key == "not_acked" and s.note_args == {"n": 5} for s in steps)
    with translation.override("en"):
        assert all(s.text == "not acknowledged within 5 minutes" for s in steps)
    with translation.override("zh-hans"):
        assert all(s.text == "5 分钟内未签收" for s in steps)
    assert alarms_escalate(now=T0 + timedelta(hours=1)) == 0


def test_acknowledge_stops_escalation(city, post_of):
    alarm = raise_gas()
    micro = responder_tiers(alarm)[0][0]
    a = alarm_acknowledge(actor=micro, alarm=alarm, at=T0 + timedelta(minutes=1))
    assert a.state == AlarmState.ACKNOWLEDGED and a.acknowledged_by_id == micro.pk
    assert alarm_acknowledge(actor=micro, alarm=alarm).state == AlarmState.ACKNOWLEDGED
    assert alarms_escalate(now=T0 + timedelta(hours=1)) == 0
    assert not Notification.objects.filter(
        kind=Notice.ALARM_ESCALATED, link=f"/sensing/alarms/{alarm.pk}/"
    ).exists()


def test_event_closing_closes_the_alarm(city, post_of):
    alarm = raise_gas()
    event_transition(
        actor=post_of("community"),
        event=alarm.event,
        action=EventAction.REJECT,
        note="duplicate of a call",
        data={"reason": RejectReason.DUPLICATE},
        at=T0 + timedelta(minutes=2),
    )
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLOSED_WITH_EVENT
    assert alarm.closed_at == T0 + timedelta(minutes=2) and alarm.next_escalation_at is None
    assert alarm.steps.filter(kind=StepKind.EVENT_CLOSED).count() == 1


def test_resolve_needs_a_note_and_leaves_the_event_to_its_dispatcher(city):
    alarm = raise_gas()
    micro = responder_tiers(alarm)[0][0]
    with pytest.raises(ValidationError):
        alarm_resolve(actor=micro, alarm=alarm, note="")
    a = alarm_resolve(actor=micro, alarm=alarm, note="closed the valve, aired the flat")
    assert a.state == AlarmState.RESOLVED and a.closed_by_id == micro.pk
    assert a.acknowledged_at is not None
    a.event.refresh_from_db()
    assert a.event.state == EventState.REPORTED  # gas leaks are not resolved on the spot
    assert a.steps.filter(kind=StepKind.NOTE, note_key="event_left").exists()
    with pytest.raises(Conflict):
        alarm_acknowledge(actor=micro, alarm=alarm)


def test_false_alarm_by_the_community_rejects_the_event(city, post_of):
    alarm = raise_gas()
    a = alarm_false(actor=post_of("community"), alarm=alarm, note="cooking, sensor too near")
    assert a.state == AlarmState.FALSE_ALARM
    a.event.refresh_from_db()
    assert a.event.state == EventState.REJECTED
    a.device.refresh_from_db()
    assert a.device.false_alarms == 1


def test_false_alarm_by_a_worker_leaves_the_event_and_says_why(city):
    alarm = raise_gas()
    micro = responder_tiers(alarm)[0][0]
    a = alarm_false(actor=micro, alarm=alarm)
    a.event.refresh_from_db()
    assert a.event.state == EventState.REPORTED
    step = a.steps.get(kind=StepKind.NOTE)
    assert step.note_key == "event_left_may_not" and step.note_args["n"] == a.event.number
    with translation.override("zh-hans"):
        assert (
            step.text
            == f"事件 {a.event.number} 仍未结案，交由其调度员处理（您的岗位无权执行“不予受理”）。"
        )
    with translation.override("en"):
        assert "(your post may not Reject it)" in step.text


def test_repeated_false_alarms_raise_one_maintenance_event(city, post_of):
    device = device_make("gas")[0]
    micro = None
    for i in range(4):
        at = T0 + timedelta(days=i)
        alarm = raise_gas(device, seq=i + 1, at=at)
        micro = micro or responder_tiers(alarm)[0][0]
        alarm_false(actor=micro, alarm=alarm, at=at + timedelta(minutes=1))
    issues = DeviceIssue.objects.filter(device=device, kind=IssueKind.FALSE_ALARMS)
    assert issues.count() == 1  # the third opened the episode, the fourth did not again
    issue = issues.get()
    assert issue.event is not None and issue.event.source == Source.SENSOR
    assert issue.event.category.code == "0602" and issue.opened_at == T0 + timedelta(
        days=2, minutes=1
    )


def test_actions_are_scoped(city, post_of):
    alarm = raise_gas()
    with pytest.raises(PermissionDenied):
        alarm_acknowledge(actor=post_of("cadre"), alarm=alarm)
    other = raise_gas(device_make("gas", house=house_in(COMMUNITY + "002"))[0])
    micro = responder_tiers(alarm)[0][0]
    with pytest.raises(NotFound):
        alarm_acknowledge(actor=micro, alarm=other)
    assert alarm_acknowledge(actor=post_of("street"), alarm=other).state == "acknowledged"
