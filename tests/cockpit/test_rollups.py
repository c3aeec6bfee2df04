"""The rollups equal the raw events: after the demo's history, after random workflows taken
through the real services (and the sweep's bulk update), after a rebuild, whatever order the
drains run in."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from wangge.cockpit import rollups, services
from wangge.cockpit.models import DayCount, EventChange, OpenCount
from wangge.core.errors import ApplicationError
from wangge.events import selectors as event_selectors
from wangge.events import services as event_services
from wangge.events.enums import EventState
from wangge.events.models import Event

pytestmark = pytest.mark.django_db

MICRO = "510104017001001001"
GRID = "510104017001002"
ACTORS = ("community", "handler", "micro", "grid", "street")
DATA = {
    "reject": {"reason": "invalid"},
    "request_extension": {"hours": 8},
    "suspend": {"review_date": "2030-01-01"},
    "dispatch": {"unit": "JJ-CG"},
}


@pytest.fixture(autouse=True)
def no_points(settings, monkeypatch):
    # points are not what these tests are about (and cost time)
    monkeypatch.setattr(event_services, "_score", lambda *a, **k: None)


def _check():
    result = services.rollups_check()
    assert result.ok, result.mismatches
    assert result.pending == 0


def test_the_demo_history_is_counted_exactly(city):
    assert Event.objects.exists()
    _check()
    # the rollups hold every level down to the micro-grids
    lengths = set(DayCount.objects.values_list("code", flat=True).distinct().iterator())
    assert {len(c) for c in lengths} == {4, 6, 9, 12, 15, 18}
    city_reported = sum(DayCount.objects.filter(code="5101").values_list("reported", flat=True))
    assert city_reported == Event.objects.count()


def test_the_demo_ends_by_counting_what_is_queued(city):
    from wangge.cockpit.demo import rollups
    from wangge.demo.registry import DemoContext

    e = Event.objects.order_by("pk").first()
    Event.objects.filter(pk=e.pk).update(supervised=not e.supervised)  # the trigger queues it
    assert EventChange.objects.exists()
    out = rollups(DemoContext(verbose=False))
    assert not EventChange.objects.exists() and out["changes counted"] >= 2
    _check()


def _random_walk(rng: random.Random, posts: dict, n_events: int, steps: int) -> list[Event]:
    events = []
    for i in range(n_events):
        e, _ = event_services.event_report(
            actor=posts["micro"],
            source=rng.choice(["patrol", "patrol", "resident"]) if i % 3 else "patrol",
            category=rng.choice(["9901", "0303", "0401"]),
            title=f"随机事件 {i}",
            grid_code=MICRO if i % 2 else GRID + "001",
        )
        events.append(e)
    for _ in range(steps):
        e = Event.objects.get(pk=rng.choice(events).pk)
        options = [
            (who, a)
            for who in ACTORS
            for a in event_selectors.event_actions(actor=posts[who], event=e)
            if a not in ("merge",)
        ]
        if not options:
            continue
        who, action = rng.choice(options)
        action = getattr(action, "value", action)
        try:
            with transaction.atomic():
                event_services.event_transition(
                    actor=posts[who],
                    event=e,
                    action=action,
                    note="随机",
                    data=dict(DATA.get(action, {})),
                )
        except ApplicationError:
            pass  # a refused action (photo needed, …) changes nothing
        if rng.random() < 0.3:
            services.rollups_drain(batch=rng.choice([1, 3, 50]))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_raw_counts_after_random_workflows(post_of, seed):
    rng = random.Random(seed)
    posts = {u: post_of(u) for u in ACTORS}
    services.rollups_drain()
    events = _random_walk(rng, posts, n_events=12, steps=70)
    # the sweep flags overdue events by one bulk UPDATE (no save()): the triggers see it
    Event.objects.filter(pk__in=[e.pk for e in events[:4]]).update(
        handle_due=timezone.now() - timedelta(days=3)
    )
    event_services.deadlines_sweep(now=timezone.now())
    assert EventChange.objects.exists()
    _check()
    mine = Event.objects.filter(pk__in=[e.pk for e in events])
    states = set(mine.values_list("state", flat=True))
    assert len(states) >= 3, states


def test_a_rebuild_gives_the_same_rollups_and_a_deleted_event_is_uncounted(post_of):
    services.rollups_drain()
    before = sorted(DayCount.objects.values_list("code", "day", "reported", "closed", "due"))
    out = services.rollups_rebuild(actor=None)
    assert out["events"] == Event.objects.count()
    after = sorted(DayCount.objects.values_list("code", "day", "reported", "closed", "due"))
    assert before == after
    e, _ = event_services.event_report(
        actor=post_of("micro"), source="patrol", category="9901", title="删除", grid_code=MICRO
    )
    services.rollups_drain()
    opened = OpenCount.objects.get(code=MICRO[:12], state=EventState.REPORTED).open
    Event.objects.filter(pk=e.pk).delete()
    services.rollups_drain()
    assert OpenCount.objects.get(code=MICRO[:12], state=EventState.REPORTED).open == opened - 1
    _check()


def test_an_update_that_changes_no_counted_column_queues_nothing(post_of):
    e, _ = event_services.event_report(
        actor=post_of("micro"), source="patrol", category="9901", title="无关", grid_code=MICRO
    )
    services.rollups_drain()
    Event.objects.filter(pk=e.pk).update(title="改了标题", warned=True)
    assert not EventChange.objects.exists()


def test_contributions_by_hand():
    """One closed event, by hand: what each counter means."""
    now = timezone.now().replace(hour=4, minute=0, second=0, microsecond=0)
    img = rollups.Image(
        grid_code=MICRO,
        category_id=1,
        source="patrol",
        state="closed",
        reported_at=now - timedelta(days=2),
        accepted_at=now - timedelta(days=2) + timedelta(hours=3),
        closed_at=now,
        handle_due=now + timedelta(hours=5),
        overdue=False,
        closed_on_time=True,
        on_spot=False,
        rework_count=1,
        supervised=False,
    )
    days = rollups.day_counters(img)
    rep = days[rollups.local_day(img.reported_at)]
    assert rep == {"reported": 1, "valid": 1, "cohort_closed": 1, "responded_24h": 1, "accepted": 1}
    closed = days[rollups.local_day(now)]
    assert closed["closed"] == closed["closed_on_time"] == closed["verified"] == 1
    assert closed["rework"] == 1 and closed["handle_seconds"] == 48 * 3600
    assert closed["h6"] == 1  # the bucket 24 h < t ≤ 48 h
    assert closed["due"] == closed["due_on_time"] == 1  # counted the day it closed
    assert rollups.open_counters(img) is None
    suspended = replace(img, state="suspended", overdue=True, closed_at=None)
    assert "due" not in str(rollups.day_counters(suspended))
    assert rollups.open_counters(suspended) == {"open": 1, "overdue": 1, "supervised": 0}
