"""Points through the services and the hooks, acting as the demo city's posts."""

import uuid
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from wangge.accounts.scope import SYSTEM
from wangge.accounts.services import post_grant
from wangge.core.errors import Conflict, PermissionDenied, ValidationError
from wangge.core.models import AuditEntry
from wangge.events import services as events
from wangge.points import hooks, services
from wangge.points.enums import FactKind
from wangge.points.models import Balance, Entry, Redemption, Reward, Rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def events_do_not_score(monkeypatch):
    """These tests call the hooks themselves, or leave them out on purpose; the events services
    call them too (tests/events/test_services.py checks that wiring)."""
    monkeypatch.setattr(events, "_score", lambda *a, **kw: None)


CST = ZoneInfo("Asia/Shanghai")
MICRO = "510104017001001001"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def balance(user) -> D:
    return Balance.objects.filter(pk=getattr(user, "pk", user)).values_list(
        "points", flat=True
    ).first() or D(0)


def ledger_sum(user) -> D:
    return sum(
        Entry.objects.filter(user_id=getattr(user, "pk", user)).values_list("points", flat=True),
        D(0),
    )


@pytest.fixture
def worker(city):
    """A fresh micro-grid worker in the demo micro-grid (no points yet)."""
    user = get_user_model().objects.create(username=f"w-{uuid.uuid4().hex[:10]}")
    return post_grant(actor=SYSTEM, user=user, role="micro_grid_worker", place_code=MICRO)


@pytest.fixture
def rule(city):
    """A rule of the test's own: +0.5, at most 1.5 a day and 2.5 a month, valid 1 month."""
    return services.rule_create(
        actor=SYSTEM,
        action="test_visit",
        name="测试",
        name_en="Test visit",
        points="0.5",
        daily_cap="1.5",
        monthly_cap="2.5",
        valid_months=1,
    )


def _award(post, fid, when, kind="test_visit"):
    return services.points_award(user=post.user, fact_kind=kind, fact_id=fid, at=when)


# --- a fact scores once -------------------------------------------------------------------------
def test_a_fact_scores_once_however_often_it_is_retried(worker, rule):
    first = _award(worker, 1, at(2026, 3, 2, 10))
    assert first is not None and first.points == D("0.50")
    for _ in range(3):
        assert _award(worker, 1, at(2026, 3, 2, 11)) is None
    assert Entry.objects.filter(fact_kind="test_visit", fact_id=1).count() == 1
    assert balance(worker.user) == D("0.50") == ledger_sum(worker.user)


def test_no_rule_or_an_inactive_rule_scores_nothing(worker, rule):
    assert _award(worker, 1, at(2026, 3, 2), kind="no_such_rule") is None
    services.rule_update(actor=SYSTEM, rule=rule, is_active=False)
    assert _award(worker, 2, at(2026, 3, 2)) is None
    assert not Entry.objects.filter(user_id=worker.user_id).exists()
    with pytest.raises(ValueError):
        services.points_award(
            user=worker.user, fact_kind="redemption", fact_id=1, at=at(2026, 1, 1)
        )


# --- caps ---------------------------------------------------------------------------------------
def test_daily_cap_records_capped_awards_with_zero_and_the_reason(worker, rule):
    day = [at(2026, 3, 2, 23, 55 + i) for i in range(4)] + [at(2026, 3, 3, 0, 0)]
    got = [_award(worker, i, t) for i, t in enumerate(day)]
    assert [e.points for e in got] == [D("0.5")] * 3 + [D("0")] + [D("0.5")]
    assert [e.capped for e in got] == ["", "", "", "daily", ""]
    assert got[3].base_points == D("0.50")
    assert balance(worker.user) == D("2.00")


def test_monthly_cap_applies_across_days_and_resets_on_the_first(worker, rule):
    times = [at(2026, 3, d, 9) for d in range(1, 8)] + [at(2026, 4, 1, 0, 0)]
    got = [_award(worker, i, t) for i, t in enumerate(times)]
    assert [e.points for e in got] == [D("0.5")] * 5 + [D("0")] * 2 + [D("0.5")]
    assert [e.capped for e in got][5:7] == ["monthly", "monthly"]


def test_rule_edits_are_validated_and_audited(rule, post_of):
    with pytest.raises(ValidationError):
        services.rule_update(actor=SYSTEM, rule=rule, daily_cap="-1")
    with pytest.raises(ValidationError):
        services.rule_update(actor=SYSTEM, rule=rule, points="0.001")
    with pytest.raises(PermissionDenied):
        services.rule_update(actor=post_of("street"), rule=rule, points="9")
    services.rule_update(actor=post_of("sysadmin"), rule=rule, points="1", daily_cap="")
    rule.refresh_from_db()
    assert rule.points == D("1") and rule.daily_cap is None
    row = AuditEntry.objects.filter(action="points.rule_update").order_by("-id").first()
    assert row.username == "sysadmin" and row.details["changed"]["points"] == ["0.50", "1.00"]


def test_the_shipped_rules_are_installed_once():
    assert services.points_rules_install(actor=SYSTEM) == 0  # the demo installed them
    rules = {r.action: r for r in Rule.objects.all()}
    assert rules["event_report"].points == D("2")
    assert rules["event_on_spot"].points == D("3")
    assert rules["household_verify"].points == D("0.5")
    assert rules["care_visit"].points == D("1")
    assert rules["task_on_time"].points == D("2")
    assert rules["task_overdue"].points == D("-2")
    assert rules["event_rejected"].points == D("0")


# --- hooks --------------------------------------------------------------------------------------
def _report(post, **kw):
    e, _ = events.event_report(
        actor=post,
        source=kw.pop("source", "patrol"),
        category=kw.pop("category", "0401"),
        title=kw.pop("title", "楼道墙体出现裂缝"),
        grid_code=MICRO,
        **kw,
    )
    return e


def test_an_accepted_patrol_report_earns_the_reporter_two_points_once(worker, post_of):
    e = _report(worker)
    e = events.event_transition(actor=post_of("community"), event=e, action="accept")
    entry = hooks.on_event_accepted(e, e.accepted_at)
    assert entry.points == D("2") and entry.user_id == worker.user_id
    assert (entry.fact_kind, entry.fact_id, entry.scope_code) == ("event_report", e.pk, MICRO)
    assert hooks.on_event_accepted(e, timezone.now()) is None  # a retry scores nothing
    assert balance(worker.user) == D("2")


def test_on_the_spot_earns_three_and_a_rejection_is_recorded_with_zero(worker, post_of):
    spot = _report(worker, category="0102", title="墙面乱张贴小广告")
    from wangge.events.demo import _after_photos

    spot = events.event_transition(
        actor=worker, event=spot, action="resolve_on_spot", photos=_after_photos(1)
    )
    assert hooks.on_event_resolved_on_spot(spot, spot.closed_at).points == D("3")
    bad = _report(worker, title="不存在的问题")
    bad = events.event_transition(
        actor=post_of("community"),
        event=bad,
        action="reject",
        note="经核实情况不存在",
        data={"reason": "invalid"},
    )
    rejected = hooks.on_event_rejected(bad, bad.closed_at)
    assert rejected.points == D("0") and rejected.fact_kind == "event_rejected"
    assert balance(worker.user) == D("3")


def test_reports_not_made_by_a_worker_on_patrol_earn_nothing(worker, post_of):
    community = post_of("community")
    by_dispatcher = _report(community, source="dispatcher")
    by_dispatcher = events.event_transition(actor=community, event=by_dispatcher, action="accept")
    assert hooks.on_event_accepted(by_dispatcher, timezone.now()) is None
    from_system = _report(SYSTEM, source="resident")
    assert hooks.on_event_accepted(from_system, timezone.now()) is None


def test_household_verified_earns_half_a_point_for_the_verifying_worker(worker):
    from wangge.people.models import Resident
    from wangge.verification import services as verification
    from wangge.verification.models import Round
    from wangge.verification.services import MemberCheck

    rnd = Round.objects.get(place_code=MICRO, cycle=str(timezone.localdate().year))
    task = rnd.tasks.filter(state="pending").order_by("id").first()
    members = [
        MemberCheck(r)
        for r in Resident.objects.filter(
            house_id=task.house_id, moved_out__isnull=True
        ).values_list("id", flat=True)
    ]
    verification.household_verify(actor=worker, task=task, members=members, key="k1")
    verification.household_verify(actor=worker, task=task, members=members, key="k1")  # retry
    entries = Entry.objects.filter(fact_kind="household_verify", fact_id=task.pk)
    assert [(e.user_id, e.points) for e in entries] == [(worker.user_id, D("0.5"))]


def test_campaign_task_hooks(worker):
    due = at(2026, 3, 2, 18)
    assert hooks.on_task_answered(post=worker, task_id=7, at=due, due=due).points == D("2")
    assert hooks.on_task_answered(post=worker, task_id=8, at=due + timedelta(1), due=due) is None
    assert hooks.on_task_overdue(post=worker, task_id=8, at=due).points == D("-2")
    assert hooks.on_task_overdue(post=worker, task_id=8, at=due) is None
    assert hooks.on_care_visit(post=worker, visit_id=3, at=due).points == D("1")
    assert balance(worker.user) == D("1")


# --- expiry -------------------------------------------------------------------------------------
def test_expired_points_are_written_off_and_never_spent(worker, rule):
    long_ago = timezone.now() - timedelta(days=70)
    _award(worker, 1, long_ago)
    _award(worker, 2, timezone.now() - timedelta(days=1))
    assert balance(worker.user) == D("1.00")
    out = services.points_expire(users=[worker.user_id])
    assert out["points"] == D("0.50")
    expiry = Entry.objects.get(user_id=worker.user_id, fact_kind=FactKind.EXPIRY)
    assert (
        expiry.points == D("-0.50")
        and expiry.at == Entry.objects.get(fact_kind="test_visit", fact_id=1).expires_at
    )
    assert balance(worker.user) == D("0.50") == ledger_sum(worker.user)
    assert services.points_expire(users=[worker.user_id])["points"] == D(0)  # idempotent


# --- redemption ---------------------------------------------------------------------------------
@pytest.fixture
def reward(city):
    return services.reward_create(actor=SYSTEM, name="测试奖品", cost="1", stock=2)


def test_redeeming_spends_points_and_stock_and_is_audited(worker, rule, reward):
    for i in range(3):
        _award(worker, i, timezone.now() - timedelta(hours=i))
    r, created = services.reward_redeem(actor=worker, reward=reward, key="a")
    assert created and r.cost == D("1")
    assert balance(worker.user) == D("0.50") == ledger_sum(worker.user)
    reward.refresh_from_db()
    assert reward.stock == 1
    entry = Entry.objects.get(fact_kind="redemption", fact_id=r.pk)
    assert entry.points == D("-1")
    row = AuditEntry.objects.filter(action="points.redeem", object_id=str(r.pk)).get()
    assert row.username == worker.user.username and row.details["cost"] == "1.00"


def test_a_retried_redemption_with_the_same_key_redeems_once(worker, rule, reward):
    for i in range(3):
        _award(worker, i, timezone.now() - timedelta(hours=i))
    first, created = services.reward_redeem(actor=worker, reward=reward, key="same")
    again, created_again = services.reward_redeem(actor=worker, reward=reward, key="same")
    assert created and not created_again and again.pk == first.pk
    assert Redemption.objects.filter(user_id=worker.user_id).count() == 1
    other = services.reward_create(actor=SYSTEM, name="另一个", cost="0.5", stock=5)
    with pytest.raises(ValidationError) as e:
        services.reward_redeem(actor=worker, reward=other, key="same")
    assert e.value.code == "key_reused"


def test_never_below_a_zero_balance_nor_below_zero_stock(worker, rule, reward):
    _award(worker, 1, timezone.now())
    with pytest.raises(Conflict) as e:
        services.reward_redeem(actor=worker, reward=reward)
    assert e.value.code == "not_enough_points"
    assert (
        balance(worker.user) == D("0.50")
        and not Redemption.objects.filter(user_id=worker.user_id).exists()
    )
    for i in range(2, 12):
        _award(worker, i, timezone.now() - timedelta(days=i))
    services.reward_redeem(actor=worker, reward=reward)
    services.reward_redeem(actor=worker, reward=reward)
    with pytest.raises(Conflict) as e:
        services.reward_redeem(actor=worker, reward=reward)
    assert e.value.code == "out_of_stock"
    reward.refresh_from_db()
    assert reward.stock == 0
    assert balance(worker.user) >= 0


def test_only_workers_redeem_and_only_the_administrator_edits_the_catalogue(post_of, reward):
    with pytest.raises(PermissionDenied):
        services.reward_redeem(actor=post_of("street"), reward=reward)
    with pytest.raises(PermissionDenied):
        services.reward_create(actor=post_of("micro"), name="x", cost=1, stock=1)
    with pytest.raises(ValidationError):
        services.reward_update(actor=post_of("sysadmin"), reward=reward, stock=-1)
    r = services.reward_update(actor=post_of("sysadmin"), reward=reward, stock=9)
    assert r.stock == 9
    assert Reward.objects.get(pk=reward.pk).stock == 9


def test_rankings_share_a_rank_on_equal_points_and_list_ties_by_user(rule, post_of):
    from wangge.points import selectors

    place = "510104017001001005"
    users = []
    for _ in range(3):
        u = get_user_model().objects.create(username=f"t-{uuid.uuid4().hex[:10]}")
        users.append(post_grant(actor=SYSTEM, user=u, role="micro_grid_worker", place_code=place))
    now = timezone.now()
    for i, (post, n) in enumerate(zip(users, (2, 3, 2), strict=True)):
        for k in range(n):
            _award(post, 9000 + i * 10 + k, now)
    board = selectors.ranking(actor=post_of("community"), code=place)
    got = [(r.rank, r.user_id, r.points) for r in board.rows]
    low = sorted([users[0].user_id, users[2].user_id])
    assert got == [
        (1, users[1].user_id, D("1.5")),
        (2, low[0], D("1.0")),
        (2, low[1], D("1.0")),
    ]
    mine = selectors.ranking(actor=users[2], code=place).mine
    assert (mine.rank, mine.user_id) == (2, users[2].user_id)
    # redemptions and expiries do not lower a rank; a year board counts the same facts
    year = selectors.ranking(actor=post_of("community"), code=place, period="year")
    assert [r.points for r in year.rows] == [r.points for r in board.rows]
