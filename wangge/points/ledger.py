"""The arithmetic of points, without the database: periods, caps, validity and balances.

The services apply these rules one award at a time against the ledger in the database; the
recompute applies them to every fact at once, in time order, in memory. Both go through the
functions here, and ``tests/points`` checks that the two agree.

- **Periods** are calendar days, months and years in the platform's time zone (Asia/Shanghai),
  taken from the time the fact happened, not the time it was recorded.
- **Caps** bound what one user earns from one rule in a day and in a month (in points, by
  absolute value, so a cap on a deduction bounds the deduction). An award that would take the
  total past a cap counts 0 and names the cap (all or nothing: a rule's awards are all the same
  size, so a part-award would only move the boundary).
- **Validity**: positive points expire ``valid_months`` after the fact (never when empty).
- **Balances** follow the points first in, first out: a deduction or a redemption spends the
  points that expire soonest (points that never expire last); what is left of a lot when it
  expires is written off by an expiry entry; a deduction beyond the balance is a debt that the
  next points earned pay first. Movements at the same instant are taken earnings first, then
  spendings, so the result does not depend on the order they were written in.
"""

from __future__ import annotations

import bisect
import calendar
import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from wangge.points.enums import Capped

ZERO = Decimal("0")
CENT = Decimal("0.01")


def q(value) -> Decimal:
    """A points amount as a two-place decimal (the database's precision)."""
    return Decimal(value).quantize(CENT)


# --- periods ------------------------------------------------------------------------------------
def local_date(at: datetime) -> date:
    return timezone.localtime(at).date()


def _start(d: date) -> datetime:
    return timezone.make_aware(datetime.combine(d, time.min))


def day_bounds(at: datetime) -> tuple[datetime, datetime]:
    d = local_date(at)
    return _start(d), _start(d + timedelta(days=1))


def month_bounds_of(year: int, month: int) -> tuple[datetime, datetime]:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return _start(date(year, month, 1)), _start(date(nxt[0], nxt[1], 1))


def month_bounds(at: datetime) -> tuple[datetime, datetime]:
    d = local_date(at)
    return month_bounds_of(d.year, d.month)


def year_bounds_of(year: int) -> tuple[datetime, datetime]:
    return _start(date(year, 1, 1)), _start(date(year + 1, 1, 1))


def add_months(at: datetime, months: int) -> datetime:
    """The same local wall-clock time ``months`` later (the 31st becomes the month's last)."""
    local = timezone.localtime(at)
    m = local.month - 1 + months
    year, month = local.year + m // 12, m % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    naive = local.replace(tzinfo=None, year=year, month=month, day=day)
    return timezone.make_aware(naive)


# --- rules and caps -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Terms:
    """What a rule says, detached from its row."""

    action: str
    points: Decimal
    daily_cap: Decimal | None = None
    monthly_cap: Decimal | None = None
    valid_months: int | None = None
    rule_id: int | None = None

    @classmethod
    def of(cls, rule) -> Terms:
        return cls(
            action=rule.action,
            points=q(rule.points),
            daily_cap=q(rule.daily_cap) if rule.daily_cap is not None else None,
            monthly_cap=q(rule.monthly_cap) if rule.monthly_cap is not None else None,
            valid_months=rule.valid_months or None,
            rule_id=rule.pk,
        )

    def cap(self, used_day: Decimal, used_month: Decimal) -> str:
        """Which cap an award would pass, given what the user already has from this rule in
        the day and the month of the fact ("" when it fits)."""
        if self.daily_cap is not None and abs(used_day + self.points) > self.daily_cap:
            return Capped.DAILY
        if self.monthly_cap is not None and abs(used_month + self.points) > self.monthly_cap:
            return Capped.MONTHLY
        return ""

    def expires(self, at: datetime, points: Decimal) -> datetime | None:
        if points > 0 and self.valid_months:
            return add_months(at, self.valid_months)
        return None


@dataclass(frozen=True)
class Fact:
    """Something that happened and may score: its kind and id, whose it is, when, where."""

    kind: str
    id: int
    user_id: int
    at: datetime
    scope_code: str = ""
    note: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.id)


@dataclass(frozen=True)
class Award:
    """The ledger entry a fact makes."""

    fact: Fact
    rule_id: int | None
    points: Decimal
    base_points: Decimal
    capped: str
    expires_at: datetime | None


def award_for(fact: Fact, terms: Terms, used_day: Decimal, used_month: Decimal) -> Award:
    capped = terms.cap(used_day, used_month)
    points = ZERO if capped else terms.points
    return Award(
        fact=fact,
        rule_id=terms.rule_id,
        points=points,
        base_points=terms.points,
        capped=capped,
        expires_at=terms.expires(fact.at, points),
    )


def awards_simulate(facts: Iterable[Fact], rules: dict[str, Terms]) -> list[Award]:
    """Every fact scored in time order against the rules in force: what the ledger's awards
    should be. Facts without an active rule score nothing (as ``points_award`` does)."""
    day: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    month: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    out = []
    for f in sorted(facts, key=lambda f: (f.at, f.kind, f.id)):
        terms = rules.get(f.kind)
        if terms is None:
            continue
        d = local_date(f.at)
        dk, mk = (f.user_id, f.kind, d), (f.user_id, f.kind, d.year, d.month)
        a = award_for(f, terms, day[dk], month[mk])
        day[dk] += a.points
        month[mk] += a.points
        out.append(a)
    return out


# --- balances: lots, first in first out ---------------------------------------------------------
@dataclass(frozen=True)
class Movement:
    """A ledger entry as the balance sees it (expiry entries are not movements: the fold
    produces them)."""

    key: tuple[str, int]
    at: datetime
    points: Decimal
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Expiry:
    lot: tuple[str, int]  # the key of the entry whose points expire
    at: datetime
    points: Decimal  # how many (positive)


@dataclass
class _Lot:
    key: tuple[str, int]
    at: datetime
    expires_at: datetime | None
    remaining: Decimal

    def order(self) -> tuple:
        # spend what expires first; what never expires last
        far = self.expires_at is None
        return (far, self.expires_at or self.at, self.at, self.key)


@dataclass
class Fold:
    balance: Decimal = ZERO
    expiries: list[Expiry] = field(default_factory=list)
    next_expiry: datetime | None = None  # the earliest expiry of what is left


def fold(movements: Iterable[Movement], until: datetime) -> Fold:
    """The balance at ``until`` and the expiries due by then."""
    ms = sorted(movements, key=lambda m: (m.at, m.points < 0, m.key))
    spendable: list[_Lot] = []  # in spending order
    keys: list[tuple] = []
    expiring: list[tuple] = []  # heap of (expires_at, at, key, lot)
    debt = ZERO
    out = Fold()

    def expire_through(t: datetime) -> None:
        while expiring and expiring[0][0] <= t:
            _exp, _at, _key, lot = heapq.heappop(expiring)
            if lot.remaining > 0:
                out.expiries.append(Expiry(lot.key, lot.expires_at, lot.remaining))
                lot.remaining = ZERO
            i = bisect.bisect_left(keys, lot.order())
            if i < len(keys) and keys[i] == lot.order():
                del keys[i]
                del spendable[i]

    for m in ms:
        expire_through(m.at)
        if m.points > 0:
            paid = min(debt, m.points)
            debt -= paid
            rest = m.points - paid
            if rest > 0:
                lot = _Lot(m.key, m.at, m.expires_at, rest)
                i = bisect.bisect_left(keys, lot.order())
                keys.insert(i, lot.order())
                spendable.insert(i, lot)
                if m.expires_at is not None:
                    heapq.heappush(expiring, (m.expires_at, m.at, m.key, lot))
        elif m.points < 0:
            need = -m.points
            while need > 0 and spendable:
                lot = spendable[0]
                take = min(lot.remaining, need)
                lot.remaining -= take
                need -= take
                if lot.remaining == 0:
                    del spendable[0]
                    del keys[0]
            debt += need
    expire_through(until)
    out.balance = sum((lot.remaining for lot in spendable), ZERO) - debt
    live = [lot.expires_at for lot in spendable if lot.expires_at is not None]
    out.next_expiry = min(live) if live else None
    return out
