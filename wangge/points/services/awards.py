"""Awards and expiry: the ledger lines written where facts happen, and the write-off of
points past their validity. Both lock the user's balance row first."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from wangge.points.enums import LEDGER_KINDS, FactKind
from wangge.points.ledger import (
    ZERO,
    Award,
    Fact,
    Movement,
    Terms,
    award_for,
    day_bounds,
    fold,
    month_bounds,
    q,
)
from wangge.points.models import Balance, Entry, Rule


# --- awards -------------------------------------------------------------------------------------
def _user_id(user) -> int | None:
    if user is None:
        return None
    return getattr(user, "pk", user)


def balance_locked(user_id: int) -> Balance:
    """The user's balance row, created if need be, locked for the rest of the transaction."""
    bal = Balance.objects.select_for_update().filter(pk=user_id).first()
    if bal is None:
        Balance.objects.get_or_create(user_id=user_id)
        bal = Balance.objects.select_for_update().get(pk=user_id)
    return bal


def _used(user_id: int, kind: str, bounds: tuple[datetime, datetime]) -> Decimal:
    s = Entry.objects.filter(
        user_id=user_id, fact_kind=kind, at__gte=bounds[0], at__lt=bounds[1]
    ).aggregate(s=Sum("points"))["s"]
    return q(s or 0)


def points_award(
    *, user, fact_kind: str, fact_id: int, at: datetime, scope_code: str = "", note: str = ""
) -> Entry | None:
    """Score one fact for a user under the rule for ``fact_kind``, inside the caller's
    transaction. Returns the new entry; None when nothing was written — the fact has scored
    already (a retry, or a concurrent request that got there first), there is no user, or no
    active rule for the kind. Caps are applied by the fact's time ``at``: an award past the
    user's daily or monthly cap for the rule is written with 0 points and the cap named."""
    user_id = _user_id(user)
    kind = str(fact_kind)
    if user_id is None:
        return None
    at = at or timezone.now()
    if kind in LEDGER_KINDS:
        raise ValueError(f"points_award(): {kind} entries are written by the ledger itself")
    rule = Rule.objects.filter(action=kind, is_active=True).first()
    if rule is None:
        return None
    fact_id = int(fact_id)
    with transaction.atomic():
        if Entry.objects.filter(fact_kind=kind, fact_id=fact_id).exists():
            return None
        bal = balance_locked(user_id)
        terms = Terms.of(rule)
        fact = Fact(kind, fact_id, user_id, at, (scope_code or "")[:18], (note or "")[:200])
        award = award_for(
            fact,
            terms,
            _used(user_id, kind, day_bounds(at)),
            _used(user_id, kind, month_bounds(at)),
        )
        entry = entry_of(award)
        try:
            with transaction.atomic():
                entry.save(force_insert=True)
        except IntegrityError:
            return None  # the same fact, scored by a request that committed while we waited
        if award.points:
            bal.points = q(bal.points + award.points)
            if award.expires_at and (bal.next_expiry is None or award.expires_at < bal.next_expiry):
                bal.next_expiry = award.expires_at
            bal.save(update_fields=["points", "next_expiry", "updated_at"])
    return entry


def entry_of(a: Award) -> Entry:
    return Entry(
        user_id=a.fact.user_id,
        fact_kind=a.fact.kind,
        fact_id=a.fact.id,
        rule_id=a.rule_id,
        points=a.points,
        base_points=a.base_points,
        capped=a.capped,
        at=a.fact.at,
        expires_at=a.expires_at,
        scope_code=a.fact.scope_code,
        note=a.fact.note,
    )


# --- expiry -------------------------------------------------------------------------------------
def ledger_movements(user_id: int) -> tuple[list[Movement], dict[tuple, int], set[int]]:
    """The user's ledger as movements, the entry id of each, and the entries already expired."""
    moves, ids, expired = [], {}, set()
    rows = Entry.objects.filter(user_id=user_id).values_list(
        "id", "fact_kind", "fact_id", "at", "points", "expires_at"
    )
    for pk, kind, fid, at, pts, exp in rows:
        if kind == FactKind.EXPIRY:
            expired.add(fid)
            continue
        ids[(kind, fid)] = pk
        moves.append(Movement((kind, fid), at, q(pts), exp))
    return moves, ids, expired


def expire_user(bal: Balance, now: datetime) -> Decimal:
    """Write off what expired of the user's points by ``now`` (the balance row is locked)."""
    moves, ids, expired = ledger_movements(bal.user_id)
    f = fold(moves, now)
    new = [
        Entry(
            user_id=bal.user_id,
            fact_kind=FactKind.EXPIRY,
            fact_id=ids[x.lot],
            points=-x.points,
            base_points=-x.points,
            at=x.at,
            note=x.lot[0],
        )
        for x in f.expiries
        if ids[x.lot] not in expired
    ]
    Entry.objects.bulk_create(new)
    gone = sum((x.points for x in new), ZERO)
    bal.points = q(bal.points + gone)  # the entries are negative
    bal.next_expiry = f.next_expiry
    bal.save(update_fields=["points", "next_expiry", "updated_at"])
    return -gone


def points_expire(*, now: datetime | None = None, users: list[int] | None = None) -> dict:
    """Write off points past their validity: for every user with a lot due (or the given
    users), one transaction each. Idempotent; safe beside awards and redemptions (the balance
    row is locked)."""
    now = now or timezone.now()
    qs = Balance.objects.filter(next_expiry__lte=now) if users is None else None
    todo = list(qs.values_list("user_id", flat=True)) if qs is not None else list(users or [])
    points = ZERO
    for uid in todo:
        with transaction.atomic():
            points += expire_user(balance_locked(uid), now)
    return {"users": len(todo), "points": points}
