"""The background side: outbox delivery, periodic scheduling, a sweep killed half-way."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from wangge.events import notify, services
from wangge.events.models import Event, EventLog, Notification

pytestmark = pytest.mark.django_db
MICRO = "510104017001001001"


def _dispatched(post_of, n=1, category="0303"):
    out = []
    for i in range(n):
        e, _ = services.event_report(
            actor=post_of("micro"),
            source="patrol",
            category=category,
            title=f"单车堆积 {i}",
            grid_code=MICRO,
        )
        services.event_transition(actor=post_of("community"), event=e, action="accept")
        e.refresh_from_db()
        out.append(e)
    return out


def test_outbox_delivers_each_notice_once_and_retries_failures(post_of, settings):
    _dispatched(post_of)
    waiting = Notification.objects.filter(delivered_at__isnull=True).count()
    assert waiting > 0
    calls = []
    settings.WANGGE_NOTIFY_BACKENDS = ["tests.events.test_background.flaky"]
    flaky.fail = True
    assert notify.notifications_deliver() == 0
    assert Notification.objects.filter(delivered_at__isnull=True).count() == waiting
    flaky.fail = False
    flaky.calls = calls
    assert notify.notifications_deliver() == waiting
    assert notify.notifications_deliver() == 0  # nothing twice
    assert len(calls) == waiting


def flaky(notice):
    if getattr(flaky, "fail", False):
        raise ConnectionError("SMS gateway down")
    flaky.calls.append(notice.pk)


def test_a_sweep_killed_half_way_is_finished_by_the_next_run(post_of, monkeypatch):
    # the demo history's open events fall due first, so the batches hold only these five
    services.deadlines_sweep(now=timezone.now() + timedelta(days=60))
    events = _dispatched(post_of, n=5)
    later = max(e.handle_due for e in events) + timedelta(minutes=1)
    real = services._log_row
    calls = {"n": 0}

    def dying(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real(*a, **kw)

    monkeypatch.setattr(services, "_log_row", dying)
    with pytest.raises(SystemExit):
        services.deadlines_sweep(now=later, batch=2)  # the first batch of 2 committed
    monkeypatch.setattr(services, "_log_row", real)
    marked = Event.objects.filter(pk__in=[e.pk for e in events], overdue=True).count()
    assert marked == 2
    services.deadlines_sweep(now=later, batch=2)
    assert Event.objects.filter(pk__in=[e.pk for e in events], overdue=True).count() == 5
    for e in events:  # each marked exactly once
        assert EventLog.objects.filter(event=e, action="overdue").count() == 1


def test_worker_schedules_periodic_jobs_once_and_runs_them(post_of, monkeypatch):
    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    # the worker closes stale connections between tasks; inside the test's transaction that
    # would close the test's own connection (PostgreSQL)
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)

    from wangge.core.management.commands.worker import schedule_once

    # every app's periodic jobs: the deadline sweep, notice delivery, points expiry, the
    # cockpit's rollups, the places' resident counts, the sensors' and the cameras' sweeps
    assert schedule_once() == 7
    paths = set(DBTaskResult.objects.values_list("task_path", flat=True))
    assert {
        "wangge.events.tasks.sweep_deadlines",
        "wangge.points.tasks.expire_points",
        "wangge.cockpit.tasks.drain_rollups",
        "wangge.people.tasks.refresh_place_counts",
        "wangge.perception.tasks.sensing_sweep",
        "wangge.cameras.tasks.sweep_cameras",
    } <= paths
    assert schedule_once() == 0  # already waiting: not queued twice
    call_command("worker", once=True)
    assert not DBTaskResult.objects.ready().exists()
    assert Notification.objects.filter(delivered_at__isnull=True).count() == 0
