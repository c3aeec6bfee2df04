"""Reporting, deadlines, the sweep and the outbox through the services and the API."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from wangge.core.errors import ValidationError
from wangge.core.models import AuditEntry
from wangge.events import services
from wangge.events.models import Event, EventLog, Notification

pytestmark = pytest.mark.django_db
MICRO = "510104017001001001"
CST = ZoneInfo("Asia/Shanghai")


def _report(post, **kw):
    args = {"source": "patrol", "category": "0401", "title": "墙体开裂", "grid_code": MICRO}
    args.update(kw)
    return services.event_report(actor=post, **args)


def test_same_key_same_payload_returns_the_first_event(post_of):
    micro = post_of("micro")
    e1, created1 = _report(micro, key="phone-123")
    e2, created2 = _report(micro, key="phone-123")
    assert created1 and not created2 and e1.pk == e2.pk
    assert Event.objects.filter(idem_key="phone-123").count() == 1
    with pytest.raises(ValidationError) as exc:
        _report(micro, key="phone-123", title="另一件事")
    assert exc.value.code == "key_reused"
    # the key belongs to the reporting post: another post's same key is another event
    e3, created3 = _report(post_of("grid"), key="phone-123")
    assert created3 and e3.pk != e1.pk


def test_report_locates_by_point_and_refuses_bad_input(post_of):
    from wangge.regions.models import Grid

    g = Grid.objects.get(code=MICRO)
    e, _ = _report(post_of("micro"), grid_code="", lon=g.centroid_lon, lat=g.centroid_lat)
    assert e.grid_code.startswith(MICRO[:12])
    for bad in ({"category": "04"}, {"category": "nope"}, {"title": " "}, {"urgency": "x"}):
        with pytest.raises(ValidationError):
            _report(post_of("micro"), **bad)
    with pytest.raises(ValidationError):
        _report(post_of("micro"), grid_code="", lon=None, lat=None)


def test_deadlines_follow_the_working_calendar(post_of):
    # Friday 30 Sep 2022 17:00, before the National Day holiday (1–7 Oct; 8–9 Oct workdays)
    at = datetime(2022, 9, 30, 17, 0, tzinfo=CST)
    e, _ = _report(post_of("micro"), at=at)
    assert e.response_due.astimezone(CST).date() >= datetime(2022, 10, 8).date()
    urgent, _ = _report(post_of("micro"), at=at, urgency="emergency", title="燃气味")
    assert urgent.response_due - at == timedelta(minutes=30)  # emergencies run on the clock


def test_transition_writes_log_audit_and_notices_in_one_transaction(post_of):
    e, _ = _report(post_of("micro"), category="0303", title="单车堆积")
    notices = Notification.objects.count()
    logs = EventLog.objects.count()
    audits = AuditEntry.objects.count()
    with transaction.atomic():
        services.event_transition(actor=post_of("community"), event=e, action="accept")
        assert Notification.objects.count() > notices  # the unit's "new work" notice
        transaction.set_rollback(True)  # a crash before commit: none of it remains
    assert (Notification.objects.count(), EventLog.objects.count(), AuditEntry.objects.count()) == (
        notices,
        logs,
        audits,
    )
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    e.refresh_from_db()
    assert e.state == "dispatched" and e.unit.code == "JJ-CG"
    assert Notification.objects.filter(event=e, kind="new_work", post__unit=e.unit).exists()
    crack, _ = _report(post_of("micro"))
    services.event_transition(actor=post_of("community"), event=crack, action="accept")
    crack.refresh_from_db()
    assert crack.unit.code == "JJ-ZJ"  # cracks in a wall go to 住建 automatically


def test_sweep_marks_overdue_once_and_escalates_where_the_category_says(post_of):
    e, _ = _report(post_of("micro"))
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    e.refresh_from_db()
    later = e.handle_due + timedelta(minutes=1)
    first = services.deadlines_sweep(now=later)
    e.refresh_from_db()
    assert first["overdue"] >= 1 and first["escalated"] >= 1
    assert EventLog.objects.filter(event=e, action="overdue").count() == 1
    # 0401 escalates automatically: the street dispatcher now holds it, with fresh deadlines
    assert e.level == "street" and e.escalations == 1 and e.state == "accepted"
    assert not e.overdue and e.response_due > later
    snapshot = (EventLog.objects.count(), Notification.objects.count())
    second = services.deadlines_sweep(now=later)
    assert second == {"warned": 0, "overdue": 0, "escalated": 0}
    assert (EventLog.objects.count(), Notification.objects.count()) == snapshot


def test_sweep_warns_at_80_percent(post_of):
    e, _ = _report(post_of("micro"), category="0303", title="单车堆积")
    services.event_transition(actor=post_of("community"), event=e, action="accept")
    e.refresh_from_db()
    services.deadlines_sweep(now=e.warn_at - timedelta(seconds=1))
    e.refresh_from_db()
    assert not e.warned and not EventLog.objects.filter(event=e, action="warn").exists()
    services.deadlines_sweep(now=e.warn_at + timedelta(seconds=1))
    services.deadlines_sweep(now=e.warn_at + timedelta(seconds=2))  # a second run: nothing new
    e.refresh_from_db()
    assert e.warned and not e.overdue
    assert EventLog.objects.filter(event=e, action="warn").count() == 1
    assert Notification.objects.filter(event=e, kind="deadline_near").exists()


def test_api_report_is_idempotent_and_409_lists_allowed_actions(client_as):
    c = client_as("micro")
    body = {"category": "0401", "title": "墙体开裂", "grid_code": MICRO}
    r1 = c.post("/api/events", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k9")
    r2 = c.post("/api/events", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k9")
    assert r1.status_code == 201 and r2.status_code == 200 and r1.json()["id"] == r2.json()["id"]
    eid = r1.json()["id"]
    bad = c.post(
        f"/api/events/{eid}/actions", {"action": "handle"}, content_type="application/json"
    )
    assert bad.status_code == 409
    err = bad.json()["error"]
    assert err["code"] == "illegal_action" and err["details"]["state"] == "reported"
    ok = client_as("community").post(
        f"/api/events/{eid}/actions", {"action": "accept"}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["state"] == "dispatched"
    assert [t["action"] for t in ok.json()["timeline"]] == ["report", "accept", "dispatch"]
    assert client_as("cadre").get(f"/api/events/{eid}").status_code == 404
    assert client_as("micro").get("/api/events?state=open").json()["count"] >= 1


def test_duplicate_suggestions_are_near_recent_and_same_category(post_of):
    from wangge.events import selectors
    from wangge.regions.models import Grid

    g = Grid.objects.get(code=MICRO)
    lon, lat = g.centroid_lon, g.centroid_lat
    micro = post_of("micro")
    first, _ = _report(micro, grid_code="", lon=lon, lat=lat)
    near, _ = _report(micro, grid_code="", lon=lon + 0.0002, lat=lat, title="同一处裂缝")  # ≈19 m
    far, _ = _report(micro, grid_code="", lon=lon + 0.002, lat=lat, title="远处")  # ≈190 m
    other, _ = _report(micro, grid_code="", lon=lon, lat=lat, category="0303", title="单车")
    found = selectors.duplicate_candidates(actor=post_of("community"), event=near)
    assert [e.pk for e, _m in found] == [first.pk]
    assert 10 < found[0][1] < 30
    assert far.pk not in [e.pk for e, _m in found] and other.pk not in [e.pk for e, _m in found]


def test_who_may_report_with_which_source(post_of):
    from wangge.accounts.scope import SYSTEM
    from wangge.core.errors import PermissionDenied

    micro, community = post_of("micro"), post_of("community")
    for source in ("sensor", "camera"):  # only the device pipeline (the system)
        with pytest.raises(PermissionDenied):
            _report(community, source=source)
        assert _report(SYSTEM, source=source)[1]
    with pytest.raises(PermissionDenied):  # a 12345 order is entered by a dispatcher
        _report(micro, source="hotline")
    e, _ = _report(community, source="hotline", reporter_name="张先生", key="12345-1")
    assert e.reporter_name == "张先生" and e.reporter == community
    # the caller's name is part of the payload: the same order with another caller is refused
    with pytest.raises(ValidationError):
        _report(community, source="hotline", reporter_name="李女士", key="12345-1")
    mine, _ = _report(micro)
    assert mine.reporter_name == (micro.user.get_full_name() or "")


def test_a_clashing_number_is_retried_not_a_failure(post_of, monkeypatch):
    first, _ = _report(post_of("micro"), key="n1")
    numbers = iter([first.number, first.number, "E20261129000000000042"])
    monkeypatch.setattr(services, "_number", lambda now: next(numbers))
    again, created = _report(post_of("micro"), key="n2", title="另一处开裂")
    assert created and again.number == "E20261129000000000042"
    assert Event.objects.filter(idem_key="n2").count() == 1
    assert EventLog.objects.filter(event=again).count() == 1


def test_the_sweeps_bulk_escalation_writes_what_event_transition_writes(post_of, monkeypatch):
    """The sweep escalates a batch at once; each event must end exactly as if escalated by
    ``event_transition(actor=SYSTEM, action=ESCALATE)`` (the single path, field by field)."""
    from django.forms.models import model_to_dict

    community = post_of("community")
    at = datetime(2026, 11, 23, 10, 0, tzinfo=CST)  # a Monday
    a, _ = _report(post_of("micro"), title="墙体开裂", at=at)  # 0401 escalates by itself
    b, _ = _report(post_of("micro"), title="墙体开裂", at=at)
    for e in (a, b):
        services.event_transition(actor=community, event=e, action="accept", at=at)
    a.refresh_from_db()
    due, later = a.handle_due, a.handle_due + timedelta(minutes=1)
    Event.objects.filter(pk__in=[a.pk, b.pk]).update(handle_due=due, warn_at=None)
    Event.objects.filter(pk=b.pk).update(handle_due=later + timedelta(days=1))
    assert services.deadlines_sweep(now=later)["escalated"] == 1  # a, by the bulk path

    def one_by_one(rows, now, to):
        for e in rows:
            services.event_transition(
                actor=SYSTEM,
                event=e,
                action="escalate",
                note="Overdue: escalated automatically.",
                at=now,
            )
        return len(rows)

    from wangge.accounts.scope import SYSTEM

    Event.objects.filter(pk=b.pk).update(handle_due=due)
    monkeypatch.setattr(services, "_escalate_many", one_by_one)
    assert services.deadlines_sweep(now=later)["escalated"] == 1  # b, one by one

    def event(e):
        d = model_to_dict(Event.objects.get(pk=e.pk))
        return {k: v for k, v in d.items() if k not in ("id", "number", "idem_key", "idem_hash")}

    def rows(e, n):
        logs = [
            (x.action, x.from_state, x.to_state, x.post_id, x.at, x.note, x.data)
            for x in EventLog.objects.filter(event=e).order_by("id")
        ]
        notes = sorted(
            (x.post_id, x.kind, x.text.replace(n, "N"))
            for x in Notification.objects.filter(event=e)
        )
        audits = [
            (x.action, x.user_id, x.post_id, x.role, x.object_type, {**x.details, "number": "N"})
            for x in AuditEntry.objects.filter(
                object_id=str(e.pk), action__startswith="events."
            ).order_by("id")
        ]
        return logs, notes, audits

    a.refresh_from_db()
    b.refresh_from_db()
    assert a.level == "street" and a.state == "accepted" and a.escalations == 1
    assert event(a) == event(b)
    ra, rb = rows(a, a.number), rows(b, b.number)
    assert ra == rb and ra[0][-1][0] == "escalate" and ra[1] and ra[2][-1][0] == "events.escalate"
    from wangge.core import audit

    assert audit.verify().ok


def test_a_busy_database_answers_503_and_the_retry_creates_one_event(client_as, monkeypatch):
    """SQLite's write lock not granted in time: a clear "send it again", and the retry (same
    key) makes exactly one event."""
    import json

    from django.db import OperationalError

    micro = client_as("micro")
    body = {"category": "0303", "title": "单车堆积", "grid_code": MICRO, "key": "busy-1"}
    real = services._report_once
    calls = {"n": 0}

    def locked(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("database is locked")
        return real(*a, **kw)

    monkeypatch.setattr(services, "_report_once", locked)
    r = micro.post("/api/events", json.dumps(body), content_type="application/json")
    assert r.status_code == 503 and r["Retry-After"] == "1"
    assert r.json()["error"]["code"] == "busy"
    assert not Event.objects.filter(idem_key="busy-1").exists()
    again = micro.post("/api/events", json.dumps(body), content_type="application/json")
    assert again.status_code == 201
    assert Event.objects.filter(idem_key="busy-1").count() == 1


def test_a_workers_report_scores_when_accepted_on_the_spot_or_rejected_once(post_of):
    from decimal import Decimal

    from wangge.accounts.scope import SYSTEM
    from wangge.points.models import Entry
    from wangge.points.services.rules import points_rules_install

    points_rules_install(actor=SYSTEM)
    micro, community = post_of("micro"), post_of("community")

    def ledger(e):
        return list(Entry.objects.filter(fact_id=e.pk).values_list("fact_kind", "points"))

    valid, _ = _report(micro, title="墙体开裂")
    assert ledger(valid) == []  # a report scores when it is found valid, not before
    services.event_transition(actor=community, event=valid, action="accept")
    assert ledger(valid) == [("event_report", Decimal("2"))]
    assert Entry.objects.filter(fact_id=valid.pk).get().user_id == micro.user_id
    spot, _ = _report(micro, category="9901", title="楼道杂物")
    services.event_transition(actor=micro, event=spot, action="resolve_on_spot")
    assert ledger(spot) == [("event_on_spot", Decimal("3"))]
    bad, _ = _report(micro, category="0303", title="重复上报")
    services.event_transition(
        actor=community, event=bad, action="reject", data={"reason": "invalid"}, note="无效"
    )
    assert ledger(bad) == [("event_rejected", Decimal("0"))]
    # a 12345 order entered by the dispatcher scores nobody
    call, _ = _report(community, source="hotline", key="12345-9")
    services.event_transition(actor=community, event=call, action="accept")
    assert ledger(call) == []
