"""The recompute: balances rebuilt from the facts equal the ledger the services wrote."""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wangge.accounts.scope import SYSTEM
from wangge.accounts.services import post_grant
from wangge.core.errors import ApplicationError
from wangge.events import services as events
from wangge.points import hooks, services
from wangge.points.models import Balance, Entry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def events_do_not_score(monkeypatch):
    """These tests call the hooks themselves, or leave them out on purpose; the events services
    call them too (tests/events/test_services.py checks that wiring)."""
    monkeypatch.setattr(events, "_score", lambda *a, **kw: None)


CST = ZoneInfo("Asia/Shanghai")
MICRO = "510104017001001001"


def _worker():
    user = get_user_model().objects.create(username=f"w-{uuid.uuid4().hex[:12]}")
    return post_grant(actor=SYSTEM, user=user, role="micro_grid_worker", place_code=MICRO)


def test_the_demo_ledger_agrees_with_the_facts(city):
    report = services.points_recompute(actor=SYSTEM)
    assert report.ok, dict(report.counts)
    assert report.facts > 0 and report.users > 0
    kinds = set(Entry.objects.values_list("fact_kind", flat=True))
    assert {"event_report", "event_on_spot", "household_verify"} <= kinds


def test_hooks_on_real_events_give_what_the_recompute_gives(post_of):
    from wangge.events.demo import _after_photos

    w, community = _worker(), post_of("community")
    for i in range(4):
        e, _ = events.event_report(
            actor=w, source="patrol", category="0401", title=f"裂缝{i}", grid_code=MICRO
        )
        e = events.event_transition(actor=community, event=e, action="accept")
        hooks.on_event_accepted(e, e.accepted_at)
    e, _ = events.event_report(
        actor=w, source="patrol", category="0102", title="小广告", grid_code=MICRO
    )
    e = events.event_transition(actor=w, event=e, action="resolve_on_spot", photos=_after_photos(1))
    hooks.on_event_resolved_on_spot(e, e.closed_at)
    e, _ = events.event_report(
        actor=w, source="patrol", category="0401", title="无效", grid_code=MICRO
    )
    e = events.event_transition(
        actor=community, event=e, action="reject", note="不存在", data={"reason": "invalid"}
    )
    hooks.on_event_rejected(e, e.closed_at)
    report = services.points_recompute(actor=SYSTEM, users={w.user_id})
    assert report.ok, dict(report.examples)
    assert report.facts == 6
    assert Balance.objects.get(pk=w.user_id).points == D("11")


def test_the_recompute_finds_and_fills_what_the_ledger_lacks(post_of):
    w, community = _worker(), post_of("community")
    e, _ = events.event_report(
        actor=w, source="patrol", category="0401", title="裂缝", grid_code=MICRO
    )
    events.event_transition(actor=community, event=e, action="accept")  # no hook called
    report = services.points_recompute(actor=SYSTEM, users={w.user_id})
    assert report.counts["missing"] == 1 and report.counts["balance_expected"] == 1
    with pytest.raises(ApplicationError):
        services.points_recompute(actor=post_of("street"))
    done = services.points_recompute(actor=SYSTEM, users={w.user_id}, apply=True)
    assert done.written == 1 and done.after.ok
    assert Balance.objects.get(pk=w.user_id).points == D("2")
    # a balance row that drifted is reported and set back to the ledger's sum
    Balance.objects.filter(pk=w.user_id).update(points=D("7"))
    assert services.points_recompute(actor=SYSTEM, users={w.user_id}).counts["balance_table"] == 1
    assert services.points_recompute(actor=SYSTEM, users={w.user_id}, apply=True).after.ok
    assert Balance.objects.get(pk=w.user_id).points == D("2")


def test_the_command(city, capsys):
    call_command("points", "recompute")
    assert "the ledger agrees with the facts" in capsys.readouterr().out
    call_command("points", "expire")
    call_command("points", "rules-install")


# --- random sequences ---------------------------------------------------------------------------
START = datetime(2026, 1, 1, 8, tzinfo=CST)
KINDS = ("hv", "od", "ev")
step = st.tuples(
    st.sampled_from(KINDS + ("redeem",)),
    st.integers(0, 110 * 24),  # hours after START
    st.booleans(),  # retried
)


@pytest.fixture
def test_rules(city):
    for action, points, daily, monthly, months in (
        ("hv", "0.5", "1.5", "4", 1),
        ("od", "-2", "4", None, None),
        ("ev", "2", None, "6", 2),
    ):
        services.rule_create(
            actor=SYSTEM,
            action=action,
            name=action,
            points=points,
            daily_cap=daily,
            monthly_cap=monthly,
            valid_months=months,
        )
    return services.reward_create(actor=SYSTEM, name="test", cost="1.5", stock=10_000)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_recompute_equals_the_ledger_after_random_sequences(test_rules, steps):
    w = _worker()
    reward = test_rules
    steps = sorted(steps, key=lambda s: s[1])
    for n, (kind, hours, retried) in enumerate(steps):
        when = START + timedelta(hours=hours, minutes=n % 60)
        if kind == "redeem":
            try:
                services.reward_redeem(actor=w, reward=reward, key=f"r{n}", at=when)
            except ApplicationError:
                pass  # not enough points: nothing written
            continue
        fid = 10_000_000 + w.user_id * 1000 + n
        services.points_award(user=w.user, fact_kind=kind, fact_id=fid, at=when)
        if retried:
            assert services.points_award(user=w.user, fact_kind=kind, fact_id=fid, at=when) is None
    end = START + timedelta(days=200)
    services.points_expire(now=end, users=[w.user_id])
    report = services.points_recompute(actor=SYSTEM, now=end, users={w.user_id})
    assert report.ok, dict(report.examples)
    total = sum(Entry.objects.filter(user_id=w.user_id).values_list("points", flat=True), D(0))
    bal = Balance.objects.filter(pk=w.user_id).values_list("points", flat=True).first()
    assert (bal or D(0)) == total
    assert Balance.objects.filter(pk=w.user_id, points__lt=0).count() == 0 or any(
        s[0] == "od" for s in steps
    )  # only a deduction takes a balance below zero, never a redemption


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(("accept", "accept", "on_spot", "reject")),
            st.integers(0, 72),  # hours: several a day, so the daily cap is reached
            st.integers(0, 2),  # how many times the hook runs (0: the caller forgot)
        ),
        min_size=1,
        max_size=9,
    )
)
def test_recompute_from_real_events_equals_the_ledger_the_hooks_wrote(post_of, steps):
    """Events reported, accepted, resolved on the spot and rejected through the events
    services, the hooks called once, twice (a retry) or not at all: the recompute reads the
    facts back from the events' log, finds exactly the facts whose hook did not run, and once
    it has filled them the ledger and the balances are what the facts give."""
    from django.utils import timezone

    from wangge.events.demo import _after_photos

    w, community = _worker(), post_of("community")
    start = timezone.now() - timedelta(days=20)
    forgot = 0
    for n, (what, hours, calls) in enumerate(sorted(steps, key=lambda s: s[1])):
        t = start + timedelta(hours=hours, minutes=n)
        spot = what == "on_spot"
        e, _ = events.event_report(
            actor=w,
            source="patrol",
            category="0102" if spot else "0401",
            title=f"{what} {n}",
            grid_code=MICRO,
            at=t,
        )
        later = t + timedelta(minutes=5)
        if spot:
            e = events.event_transition(
                actor=w, event=e, action="resolve_on_spot", at=later, photos=_after_photos(1)
            )
            hook = hooks.on_event_resolved_on_spot
        elif what == "reject":
            e = events.event_transition(
                actor=community,
                event=e,
                action="reject",
                note="不存在",
                data={"reason": "invalid"},
                at=later,
            )
            hook = hooks.on_event_rejected
        else:
            e = events.event_transition(actor=community, event=e, action="accept", at=later)
            hook = hooks.on_event_accepted
        for _ in range(calls):
            hook(e, later)
        forgot += calls == 0
    report = services.points_recompute(actor=SYSTEM, users={w.user_id})
    if forgot == 0:
        assert report.ok, dict(report.examples)
    assert report.counts.get("missing", 0) == forgot
    assert not report.counts.get("extra") and not report.counts.get("balance_table")
    done = services.points_recompute(actor=SYSTEM, users={w.user_id}, apply=True)
    assert done.written == forgot
    if not report.counts.get("differing"):
        assert done.after.ok, dict(done.after.examples)
    else:
        # a fact scored late came before others of its day: in time order it would have used
        # the cap they used; the recompute says which entries differ (the ledger is not
        # rewritten) and its balances are what the facts give
        assert done.after.counts["differing"] == report.counts["differing"]


def test_points_due_to_expire_are_reported_as_due_until_the_sweep_writes_them_off(city):
    from django.utils import timezone

    services.rule_create(actor=SYSTEM, action="short", name="短期", points="1", valid_months=1)
    w = _worker()
    services.points_award(
        user=w.user, fact_kind="short", fact_id=1, at=timezone.now() - timedelta(days=45)
    )
    report = services.points_recompute(actor=SYSTEM, users={w.user_id})
    assert report.ok and report.counts["expiry_due"] == 1
    done = services.points_recompute(actor=SYSTEM, users={w.user_id}, apply=True)
    assert done.after.ok and not done.after.counts.get("expiry_due")
    assert Balance.objects.get(pk=w.user_id).points == D("0")
    # an expiry entry the facts do not explain is a difference
    Entry.objects.filter(user_id=w.user_id, fact_kind="expiry").update(points=D("-0.5"))
    again = services.points_recompute(actor=SYSTEM, users={w.user_id})
    assert again.counts["expiry_differing"] == 1 and not again.ok
