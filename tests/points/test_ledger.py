"""The arithmetic of points without the database: periods, caps, validity, balances."""

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from wangge.points.ledger import (
    Fact,
    Movement,
    Terms,
    add_months,
    awards_simulate,
    day_bounds,
    fold,
    month_bounds,
)

CST = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def test_periods_are_local_calendar_days_and_months():
    # 23:30 UTC on Jan 31 is already Feb 1 in Chengdu
    t = datetime(2026, 1, 31, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert day_bounds(t) == (at(2026, 2, 1), at(2026, 2, 2))
    assert month_bounds(t) == (at(2026, 2, 1), at(2026, 3, 1))
    assert month_bounds(at(2026, 12, 31, 23, 59)) == (at(2026, 12, 1), at(2027, 1, 1))


def test_add_months_keeps_the_wall_clock_and_clamps_the_day():
    assert add_months(at(2026, 1, 31, 10), 1) == at(2026, 2, 28, 10)
    assert add_months(at(2026, 11, 15, 8), 3) == at(2027, 2, 15, 8)
    assert add_months(at(2024, 2, 29), 12) == at(2025, 2, 28)


HV = Terms("hv", D("0.50"), daily_cap=D("1.50"), monthly_cap=D("2.50"), valid_months=12)


def _facts(times, kind="hv", user=1):
    return [Fact(kind, i, user, t) for i, t in enumerate(times)]


def test_daily_cap_boundary_all_or_nothing():
    day = [at(2026, 3, 2, 9, m) for m in range(5)]
    out = awards_simulate(_facts(day), {"hv": HV})
    assert [a.points for a in out] == [D("0.50")] * 3 + [D("0")] * 2  # 1.5 exactly is allowed
    assert [a.capped for a in out] == ["", "", "", "daily", "daily"]
    assert all(a.base_points == D("0.50") for a in out)
    # the next local day starts fresh (00:00 Chengdu time)
    nxt = awards_simulate(_facts(day + [at(2026, 3, 3, 0, 0)]), {"hv": HV})
    assert nxt[-1].points == D("0.50") and nxt[-1].capped == ""


def test_monthly_cap_counts_across_days_and_resets_with_the_month():
    times = [at(2026, 3, d, 10) for d in range(1, 8)] + [at(2026, 4, 1, 0, 0)]
    out = awards_simulate(_facts(times), {"hv": HV})
    assert [a.points for a in out] == [D("0.50")] * 5 + [D("0")] * 2 + [D("0.50")]
    assert [a.capped for a in out][5:7] == ["monthly", "monthly"]


def test_caps_bound_deductions_by_their_size_and_are_per_user_and_rule():
    overdue = Terms("od", D("-2"), daily_cap=D("4"))
    t = at(2026, 3, 2, 9)
    facts = [Fact("od", i, 1, t + timedelta(minutes=i)) for i in range(3)]
    facts += [Fact("od", 10, 2, t), Fact("hv", 11, 1, t)]
    out = {a.fact.id: a for a in awards_simulate(facts, {"od": overdue, "hv": HV})}
    assert [out[i].points for i in range(3)] == [D("-2"), D("-2"), D("0")]
    assert out[10].points == D("-2") and out[11].points == D("0.50")


def test_points_expire_after_their_validity_and_spending_takes_the_oldest_first():
    m = [
        Movement(("a", 1), at(2026, 1, 10), D("5"), at(2026, 2, 10)),
        Movement(("a", 2), at(2026, 1, 20), D("5"), at(2026, 2, 20)),
        Movement(("r", 1), at(2026, 1, 25), D("-3")),
    ]
    f = fold(m, at(2026, 2, 15))
    assert [(x.lot, x.points) for x in f.expiries] == [(("a", 1), D("2"))]
    assert f.balance == D("5") and f.next_expiry == at(2026, 2, 20)
    # exactly at the expiry instant the points are gone
    assert fold(m, at(2026, 2, 20)).balance == D("0")


def test_a_deduction_beyond_the_balance_is_a_debt_the_next_points_pay():
    m = [
        Movement(("o", 1), at(2026, 1, 1), D("-2")),
        Movement(("a", 1), at(2026, 1, 2), D("3"), at(2026, 2, 2)),
    ]
    f = fold(m, at(2026, 3, 1))
    assert f.expiries[0].points == D("1")  # two of the three paid the debt
    assert f.balance == D("0")


def test_points_that_never_expire_are_spent_last():
    m = [
        Movement(("forever", 1), at(2026, 1, 1), D("4")),
        Movement(("expiring", 1), at(2026, 1, 5), D("4"), at(2026, 3, 1)),
        Movement(("spend", 1), at(2026, 1, 6), D("-4")),
    ]
    f = fold(m, at(2026, 4, 1))
    assert f.expiries == [] and f.balance == D("4")


amounts = st.decimals(min_value=-5, max_value=5, places=1).filter(lambda d: d != 0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), amounts, st.sampled_from([None, 1, 2])), max_size=25)
)
def test_fold_is_the_sum_less_what_expired_whatever_the_write_order(items):
    start = at(2026, 1, 1)
    moves = [
        Movement(
            ("k", i),
            start + timedelta(days=d // 4, hours=d % 4),
            D(p),
            add_months(start + timedelta(days=d // 4, hours=d % 4), v) if v and p > 0 else None,
        )
        for i, (d, p, v) in enumerate(items)
    ]
    until = start + timedelta(days=200)
    f = fold(moves, until)
    assert f.balance == sum((m.points for m in moves), D(0)) - sum(
        (x.points for x in f.expiries), D(0)
    )
    assert fold(list(reversed(moves)), until) == f
    assert all(x.points > 0 for x in f.expiries)
