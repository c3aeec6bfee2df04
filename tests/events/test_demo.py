"""The demo's event history (built with the session's demo city) and its handlers."""

import os
from collections import Counter
from datetime import datetime

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from tests.conftest import SEED
from wangge.core import workcal
from wangge.core.models import AuditEntry
from wangge.demo.models import DemoRun
from wangge.demo.registry import DemoContext
from wangge.events import demo, services
from wangge.events.enums import FINAL_STATES, EventAction
from wangge.events.models import Event, EventLog
from wangge.events.workflow import PREVIOUS, SAME, transition_for

pytestmark = pytest.mark.django_db


def _history():
    """The events of the demo history: the generator's keys, and the hotline's work orders."""
    return Event.objects.filter(
        Q(idem_key__startswith=f"demo-{SEED}-")
        | Q(idem_scope="hotline", idem_key__startswith="12345-")
    )


def test_history_has_every_outcome_and_no_refusals(city):
    summary = DemoRun.objects.get(step="event_history").summary
    assert summary["errors"] == 0
    assert summary["events"] >= demo.MIN_EVENTS * 0.9  # the last day's later hours come later
    for outcome in (
        "closed",
        "resolved on the spot",
        "ever overdue",
        "escalated",
        "reworked",
        "supervised",
        "rejected",
        "merged",
        "still open",
    ):
        assert summary[outcome] > 0, outcome
    assert summary["closed"] > summary["events"] / 2
    assert summary["closed on time %"] > 50
    events = _history()
    assert events.count() == summary["events"]
    sources = Counter(events.values_list("source", flat=True))
    assert sources.most_common(1)[0][0] == "patrol"
    assert {"hotline", "resident"} <= set(sources)


def test_every_event_followed_the_workflow_table_in_time_order(city):
    """Replaying each event's log: every row starts where the one before ended, takes an action
    the table allows from that state (or a row the platform writes), never goes back in time,
    and ends in the state the event is in."""
    ids = list(_history().values_list("id", flat=True))
    logs: dict[int, list] = {}
    for row in EventLog.objects.filter(event_id__in=ids).order_by("at", "id"):
        logs.setdefault(row.event_id, []).append(row)
    platform = {EventAction.WARN, EventAction.OVERDUE}
    for e in Event.objects.filter(pk__in=ids):
        rows = logs[e.pk]
        assert rows[0].action == EventAction.REPORT and rows[0].at == e.reported_at
        state, before = rows[0].to_state, rows[0].at
        suspended_from = ""
        for row in rows[1:]:
            assert row.at >= before and row.from_state == state, (e.pk, row)
            if row.action in platform:
                assert row.to_state == state and row.post_id is None
                continue
            t = transition_for(state, row.action)
            assert t is not None, (e.pk, state, row.action)
            if t.target == SAME:
                assert row.to_state == state
            elif t.target == PREVIOUS:
                assert row.to_state == suspended_from
            elif row.action != EventAction.ACCEPT:  # acceptance may dispatch at once
                assert row.to_state == t.target
            if row.action == EventAction.SUSPEND:
                suspended_from = state
            state, before = row.to_state, row.at
        assert state == e.state
        assert before <= timezone.now()


def test_closed_on_time_agrees_with_the_deadlines(city):
    for e in _history().filter(state="closed"):
        if e.on_spot:
            assert e.closed_on_time
        else:
            assert e.closed_on_time == (e.closed_at <= e.handle_due)


def test_overdue_events_were_flagged_by_the_sweep_and_some_escalated(city):
    overdue = EventLog.objects.filter(event__in=_history(), action=EventAction.OVERDUE)
    assert overdue.exists() and not overdue.filter(post__isnull=False).exists()
    for row in overdue.select_related("event"):
        assert row.at > datetime.fromisoformat(row.data["handle_due"])
    swept = EventLog.objects.filter(
        event__in=_history(), action=EventAction.ESCALATE, post__isnull=True
    )
    by_hand = EventLog.objects.filter(
        event__in=_history(), action=EventAction.ESCALATE, post__isnull=False
    )
    assert swept.exists() and by_hand.exists()
    for row in swept.select_related("event__category"):
        assert row.event.category.auto_escalate


def _plans(total=4_000):
    ctx = DemoContext(seed=SEED, verbose=False)
    return demo._plans(ctx, total, timezone.localdate())


def test_the_mixes_follow_the_declared_shares(city):
    plans = _plans()
    n = len(plans)
    by_source = Counter(p.source for p in plans)
    assert by_source.most_common(1)[0][0] == "patrol"
    assert 0.12 < by_source["hotline"] / n < 0.26
    outcomes = Counter(p.outcome for p in plans)
    for outcome, share in demo.OUTCOMES.items():
        if outcome not in ("duplicate", "reject"):  # a duplicate without an original: reject
            assert abs(outcomes[outcome] - share * n) <= 1, outcome
    assert outcomes["duplicate"] + outcomes["reject"] == round(
        (demo.OUTCOMES["duplicate"] + demo.OUTCOMES["reject"]) * n
    )
    # patrols by day: daytime; hotline calls until late; fewer patrols on rest days
    patrol_hours = [timezone.localtime(p.at).hour for p in plans if p.source == "patrol"]
    assert sum(8 <= h < 18 for h in patrol_hours) / len(patrol_hours) > 0.8
    days = {timezone.localtime(p.at).date() for p in plans}
    work = [d for d in days if workcal.is_workday(d)]
    rest = [d for d in days if not workcal.is_workday(d)]
    per_day = Counter(timezone.localtime(p.at).date() for p in plans if p.source == "patrol")
    assert sum(per_day[d] for d in rest) / len(rest) < 0.6 * sum(per_day[d] for d in work) / len(
        work
    )
    # sensors report gas, alarms of the elderly …; on-the-spot resolutions are patrols
    assert {p.category for p in plans if p.source == "sensor"} <= set(
        demo.CATEGORIES_BY_SOURCE["sensor"]
    )
    assert all(p.source == "patrol" for p in plans if p.outcome == "on_spot")
    dup = [p for p in plans if p.outcome == "duplicate"]
    assert all(p.category == plans[p.base].category and p.at >= plans[p.base].at for p in dup)
    # the same seed and day give the same plan (re-runs find their keys)
    again = _plans()
    assert [(p.key, p.title, p.at) for p in again] == [(p.key, p.title, p.at) for p in plans]


def test_running_the_step_again_duplicates_nothing(city):
    events = _history().count()
    logs = set(
        EventLog.objects.filter(event__in=_history()).values_list("event_id", "action", "at")
    )
    until = datetime.fromisoformat(DemoRun.objects.get(step="event_history").summary["until"])
    summary = demo.event_history(DemoContext(seed=SEED, verbose=False))
    assert summary["errors"] == 0
    assert _history().count() >= events  # the same; more only if later hours came meanwhile
    assert not _history().values("idem_key").annotate(n=Count("id")).filter(n__gt=1).exists()
    after = set(
        EventLog.objects.filter(event__in=_history()).values_list("event_id", "action", "at")
    )
    assert logs <= after
    assert all(at > until for _e, _a, at in after - logs)  # only what has come due since


def test_the_units_handle_it_walkthrough(post_of):
    """The issue's done-when: a cracked wall reported by the grid worker, accepted by the
    community, dispatched to 住建 automatically, handled by its handler (demo account
    handler-zj) with a photo, verified by the grid worker, closed; all on the timeline."""
    micro, community, zj = post_of("micro"), post_of("community"), post_of("handler-zj")
    assert zj is not None and zj.unit.code == "JJ-ZJ"
    e, _ = services.event_report(
        actor=micro,
        source="patrol",
        category="0401",
        title="房屋外墙开裂",
        grid_code="510104017001001001",
    )
    e = services.event_transition(actor=community, event=e, action="accept")
    assert e.state == "dispatched" and e.unit.code == "JJ-ZJ"
    e = services.event_transition(actor=zj, event=e, action="acknowledge")
    e = services.event_transition(
        actor=zj, event=e, action="handle", note="已修补裂缝", photos=[demo._after_photos(1)[0]]
    )
    e = services.event_transition(actor=post_of("grid"), event=e, action="verify_pass")
    assert e.state == "closed" and e.closed_on_time
    assert [r.action for r in e.log.all()] == [
        "report",
        "accept",
        "dispatch",
        "acknowledge",
        "handle",
        "verify_pass",
    ]
    audited = AuditEntry.objects.filter(object_type="events.event", object_id=str(e.pk))
    assert audited.count() == 6 and audited.filter(username="handler-zj").count() == 2


def test_handler_accounts_go_to_the_accounts_file(city, tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    path = tmp_path / "demo-accounts.txt"
    path.write_text("# user\tpassword\nhandler\tsecret\tUnit handler\tJJ-CG\t\n")
    ctx = DemoContext(seed=SEED, verbose=False, data_dir=tmp_path)
    assert demo._handlers(ctx) == len(demo.HANDLERS)
    demo._handlers(ctx)  # twice: the lines are replaced, not added again
    lines = path.read_text().splitlines()
    users = [line.split("\t")[0] for line in lines[1:]]
    assert users == ["handler"] + [h[0] for h in demo.HANDLERS]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    from django.contrib.auth import authenticate

    username, password = lines[2].split("\t")[:2]
    assert authenticate(username=username, password=password) is not None


def test_open_history_events_are_not_in_a_final_state(city):
    summary = DemoRun.objects.get(step="event_history").summary
    assert _history().exclude(state__in=FINAL_STATES).count() == summary["still open"]
