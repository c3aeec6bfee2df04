"""Recompute from the facts: what the ledger should hold, compared with what it holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from wangge.core import audit
from wangge.points import access
from wangge.points.access import PointsPerm
from wangge.points.enums import LEDGER_KINDS, FactKind
from wangge.points.ledger import (
    ZERO,
    Award,
    Fact,
    Movement,
    Terms,
    awards_simulate,
    fold,
    q,
)
from wangge.points.models import Balance, Entry, Redemption, Rule
from wangge.points.services.awards import (
    balance_locked,
    entry_of,
    ledger_movements,
    points_expire,
)


# --- recompute from the facts -------------------------------------------------------------------
@dataclass
class RecomputeReport:
    """What the facts say against what the ledger holds; each list holds up to ``LIMIT``
    examples, ``counts`` the totals."""

    facts: int = 0
    users: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    written: int = 0
    balances_fixed: int = 0
    after: RecomputeReport | None = None  # with ``apply``: the comparison once written

    LIMIT = 20
    KINDS = (
        "missing",  # a fact scored nothing in the ledger
        "differing",  # the ledger scored a fact otherwise
        "extra",  # the ledger scored a fact the facts do not show
        "expiry_differing",
        "expiry_extra",
        "balance_table",  # the balance row is not the sum of the ledger
        "balance_expected",  # the sum of the ledger is not what the facts give
    )
    # not a difference: points due to expire that the expiry sweep has not written off yet
    INFO = ("expiry_due",)

    def add(self, kind: str, **example) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < self.LIMIT:
            self.examples[kind].append(example)

    @property
    def ok(self) -> bool:
        return not any(self.counts.get(k) for k in self.KINDS)


def _ledger_awards() -> dict[tuple, dict]:
    rows = Entry.objects.exclude(fact_kind__in=LEDGER_KINDS).values(
        "id", "user_id", "fact_kind", "fact_id", "points", "capped", "at", "expires_at"
    )
    return {(r["fact_kind"], r["fact_id"]): r for r in rows.iterator(chunk_size=5000)}


def points_recompute(
    *, actor, apply: bool = False, now: datetime | None = None, users: set[int] | None = None
) -> RecomputeReport:
    """Rebuild every balance from the facts themselves (``facts.py``: events accepted, resolved
    on the spot and rejected; households verified; redemptions), applying the rules in force
    and their caps in time order, and compare with the ledger and the balance table. Kinds no
    table records yet (care visits, campaign tasks) are taken from the ledger as facts.

    With ``apply``, facts the ledger lacks are written as the recompute scored them, due
    expiries are written off and balance rows are set to the sum of the ledger; entries the
    ledger holds are never changed (the report names the differences). ``users`` limits the
    comparison to some users."""
    from wangge.points import facts as fact_sources

    access.require(actor, PointsPerm.EDIT)
    now = now or timezone.now()
    report = RecomputeReport()
    rules = {r.action: Terms.of(r) for r in Rule.objects.filter(is_active=True)}
    facts = [f for f in fact_sources.collect() if users is None or f.user_id in users]
    ledger = _ledger_awards()
    sourced = set(fact_sources.SOURCED_KINDS)
    for (kind, fid), row in ledger.items():
        if kind not in sourced and (users is None or row["user_id"] in users):
            facts.append(Fact(kind, fid, row["user_id"], row["at"]))
    report.facts = len(facts)
    expected = awards_simulate(facts, rules)
    by_key = {a.fact.key: a for a in expected}
    missing: list[Award] = []
    for a in expected:
        row = ledger.get(a.fact.key)
        if row is None:
            report.add("missing", fact=a.fact.key, user=a.fact.user_id, points=str(a.points))
            missing.append(a)
        elif (row["user_id"], q(row["points"]), row["capped"]) != (
            a.fact.user_id,
            a.points,
            a.capped,
        ):
            report.add(
                "differing",
                fact=a.fact.key,
                user=row["user_id"],
                ledger=str(row["points"]),
                expected=str(a.points),
                capped=[row["capped"], a.capped],
            )
    for key, row in ledger.items():
        if key not in by_key and (users is None or row["user_id"] in users):
            report.add("extra", fact=key, user=row["user_id"], points=str(row["points"]))

    if apply and missing:
        report.written = _write_awards(missing)

    # balances: the expected awards and the redemptions, folded in time order until now
    moves: dict[int, list[Movement]] = defaultdict(list)
    for a in expected:
        moves[a.fact.user_id].append(Movement(a.fact.key, a.fact.at, a.points, a.expires_at))
    for rid, uid, at, cost in Redemption.objects.values_list("id", "user_id", "at", "cost"):
        if users is None or uid in users:
            moves[uid].append(Movement((FactKind.REDEMPTION, rid), at, -q(cost)))
    all_users = set(moves)
    sums = _ledger_sums(users)
    table = {
        uid: q(p)
        for uid, p in Balance.objects.values_list("user_id", "points")
        if users is None or uid in users
    }
    all_users |= set(sums) | set(table)
    report.users = len(all_users)
    if apply:
        points_expire(now=now, users=sorted(all_users))
        report.balances_fixed = _fix_balances(sorted(all_users), now)
        sums = _ledger_sums(users)
        table = {
            uid: q(p)
            for uid, p in Balance.objects.values_list("user_id", "points")
            if users is None or uid in users
        }
    ledger_expiries = _ledger_expiries(users)
    for uid in sorted(all_users):
        f = fold(moves.get(uid, []), now)
        expect = {x.lot: x for x in f.expiries}
        held = ledger_expiries.get(uid, {})
        due = ZERO
        for lot, x in expect.items():
            if lot not in held:
                report.add("expiry_due", user=uid, lot=lot, points=str(x.points), at=str(x.at))
                due += x.points
            elif held[lot] != x.points:
                report.add(
                    "expiry_differing",
                    user=uid,
                    lot=lot,
                    ledger=str(held[lot]),
                    expected=str(x.points),
                )
        for lot in set(held) - set(expect):
            report.add("expiry_extra", user=uid, lot=lot, points=str(held[lot]))
        s = sums.get(uid, ZERO)
        if table.get(uid, ZERO) != s:
            report.add("balance_table", user=uid, table=str(table.get(uid, ZERO)), ledger=str(s))
        if s != f.balance + due:
            report.add("balance_expected", user=uid, ledger=str(s), expected=str(f.balance + due))
    if apply:
        audit.record(
            actor=actor,
            action="points.recompute",
            details={
                "facts": report.facts,
                "users": report.users,
                "written": report.written,
                "balances_fixed": report.balances_fixed,
                **{k: report.counts.get(k, 0) for k in RecomputeReport.KINDS},
            },
        )
        report.after = points_recompute(actor=actor, now=now, users=users)
    return report


def _ledger_sums(users) -> dict[int, Decimal]:
    rows = Entry.objects.values("user_id").annotate(s=Sum("points")).values_list("user_id", "s")
    return {uid: q(s or 0) for uid, s in rows if users is None or uid in users}


def _ledger_expiries(users) -> dict[int, dict[tuple, Decimal]]:
    """Expiry entries by user, keyed by the key of the entry whose points they wrote off."""
    key_of = dict(
        ((pk, (k, fid)) for pk, k, fid in Entry.objects.values_list("id", "fact_kind", "fact_id"))
    )
    out: dict[int, dict[tuple, Decimal]] = defaultdict(dict)
    rows = Entry.objects.filter(fact_kind=FactKind.EXPIRY).values_list(
        "user_id", "fact_id", "points"
    )
    for uid, lot_id, pts in rows:
        if users is None or uid in users:
            out[uid][key_of.get(lot_id, ("?", lot_id))] = -q(pts)
    return out


def _write_awards(awards: list[Award], batch: int = 2000) -> int:
    n = 0
    for i in range(0, len(awards), batch):
        with transaction.atomic():
            made = Entry.objects.bulk_create(
                [entry_of(a) for a in awards[i : i + batch]], ignore_conflicts=True
            )
            n += len(made)
    return n


def _fix_balances(user_ids: list[int], now: datetime, batch: int = 500) -> int:
    """Set each balance row to the sum of the user's ledger (under the row's lock, so an
    award committing meanwhile is counted once) and its next expiry from the fold."""
    fixed = 0
    for i in range(0, len(user_ids), batch):
        with transaction.atomic():
            for uid in user_ids[i : i + batch]:
                bal = balance_locked(uid)
                s = Entry.objects.filter(user_id=uid).aggregate(s=Sum("points"))["s"]
                s = q(s or 0)
                moves, _ids, _expired = ledger_movements(uid)
                nxt = fold(moves, now).next_expiry
                if bal.points != s or bal.next_expiry != nxt:
                    fixed += int(bal.points != s)
                    bal.points, bal.next_expiry = s, nxt
                    bal.save(update_fields=["points", "next_expiry", "updated_at"])
    return fixed
