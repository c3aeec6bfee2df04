"""Reads of the points system, always through the acting post.

A worker reads their own points; a dispatcher reads the ranking boards and the ledgers of the
workers of its scope (a user holding an active worker post under the scope's node); outside the
scope, and a user who is no such worker, answer the same "not found". Ranking boards list the
workers of a node — users whose active worker posts lie under its code — by the points they
earned in a month or a year (redemptions and expiries do not lower a rank).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.models import Post
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import SYSTEM, scope_for
from wangge.core.errors import NotFound, ValidationError
from wangge.points import access
from wangge.points.access import PointsPerm
from wangge.points.enums import EVENT_KINDS, LEDGER_KINDS, WORKER_ROLES, FactKind, Period
from wangge.points.ledger import (
    ZERO,
    Movement,
    fold,
    local_date,
    month_bounds_of,
    q,
    year_bounds_of,
)
from wangge.points.models import Balance, Entry, Redemption, Reward, Rule
from wangge.regions import codes as C

EXPIRING_DAYS = 30


def _not_found():
    return NotFound(_("No such worker."))


def _worker_posts(code: str) -> QuerySet[Post]:
    return Post.objects.filter(
        is_active=True, role__in=WORKER_ROLES, **C.prefix_filter(code, "place_code")
    )


def worker_get(*, actor, user_id):
    """A worker whose points the actor may read: their own user, or (dispatchers) a user holding
    an active worker post in the actor's scope. Anything else is "not found"."""
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        raise _not_found() from None
    user = get_user_model().objects.filter(pk=uid).first()
    if user is None:
        raise _not_found()
    if actor is SYSTEM:
        return user
    if access.may(actor, PointsPerm.OWN) and actor.user_id == uid:
        return user
    if not access.may(actor, PointsPerm.WORKERS):
        raise _not_found()
    scope = scope_for(actor)
    places = Post.objects.filter(user_id=uid, is_active=True, role__in=WORKER_ROLES)
    if not any(scope.covers(p) for p in places.values_list("place_code", flat=True) if p):
        raise _not_found()
    return user


def _own_user(actor):
    access.require(actor, PointsPerm.OWN)
    return actor.user


# --- a user's points ----------------------------------------------------------------------------
@dataclass
class Summary:
    user_id: int
    name: str
    balance: Decimal  # as of now, expiries due included
    stored: Decimal  # the balance row (the same once due expiries are written off)
    earned_month: Decimal
    earned_year: Decimal
    expiring: Decimal  # points that expire within EXPIRING_DAYS
    expiring_on: datetime | None
    entries: int


def _earned(user_id: int, start: datetime, end: datetime) -> Decimal:
    s = (
        Entry.objects.filter(user_id=user_id, at__gte=start, at__lt=end)
        .exclude(fact_kind__in=LEDGER_KINDS)
        .aggregate(s=Sum("points"))["s"]
    )
    return q(s or 0)


def points_summary(*, actor, user_id: int | None = None) -> Summary:
    """A user's balance, what they earned this month and year, and what expires soon: the
    actor's own (workers), or a worker of the scope (dispatchers)."""
    user = _own_user(actor) if user_id is None else worker_get(actor=actor, user_id=user_id)
    now = timezone.now()
    moves = []
    for kind, fid, at, pts, exp in Entry.objects.filter(user_id=user.pk).values_list(
        "fact_kind", "fact_id", "at", "points", "expires_at"
    ):
        if kind != FactKind.EXPIRY:
            moves.append(Movement((kind, fid), at, q(pts), exp))
    soon = fold(moves, now + timedelta(days=EXPIRING_DAYS))
    later = [x for x in soon.expiries if x.at > now]
    today = local_date(now)
    stored = Balance.objects.filter(pk=user.pk).values_list("points", flat=True).first()
    return Summary(
        user_id=user.pk,
        name=user.get_full_name() or user.username,
        balance=fold(moves, now).balance,
        stored=q(stored or 0),
        earned_month=_earned(user.pk, *month_bounds_of(today.year, today.month)),
        earned_year=_earned(user.pk, *year_bounds_of(today.year)),
        expiring=sum((x.points for x in later), ZERO),
        expiring_on=min((x.at for x in later), default=None),
        entries=len(moves),
    )


def entry_list(*, actor, user_id: int | None = None, kind: str = "") -> QuerySet[Entry]:
    """A user's ledger, newest first: the actor's own, or a worker of the scope's."""
    user = _own_user(actor) if user_id is None else worker_get(actor=actor, user_id=user_id)
    qs = Entry.objects.filter(user_id=user.pk).select_related("rule")
    if kind:
        qs = qs.filter(fact_kind=kind)
    return qs.order_by("-at", "-id")


@dataclass
class EntryView:
    """A ledger line as people read it: what it was for, and a link where the viewer may go."""

    e: Entry
    label: str
    detail: str = ""
    event_id: int | None = None
    url: str = ""


def _rule_name(rule: Rule | None, kind: str) -> str:
    if rule is not None:
        return rule.name_en if get_language() == "en" and rule.name_en else rule.name
    try:
        return str(FactKind(kind).label)
    except ValueError:
        return kind


def entry_views(*, actor, entries: list[Entry]) -> list[EntryView]:
    """Labels and links for ledger lines: an event the viewer may see links to its page (with
    its title); a household verified links to the task where the viewer's scope covers it."""
    from django.urls import reverse

    from wangge.events.selectors import event_list

    event_ids = [e.fact_id for e in entries if e.fact_kind in EVENT_KINDS]
    events: dict[int, tuple[str, str]] = {}
    if event_ids:
        visible = event_list(actor=actor, filters={}).filter(pk__in=event_ids)
        events = {
            pk: (num, title) for pk, num, title in visible.values_list("id", "number", "title")
        }
    redeemed = {
        r.pk: r
        for r in Redemption.objects.filter(
            pk__in=[e.fact_id for e in entries if e.fact_kind == FactKind.REDEMPTION]
        ).select_related("reward")
    }
    lots = {
        pk: (k, fid)
        for pk, k, fid in Entry.objects.filter(
            pk__in=[e.fact_id for e in entries if e.fact_kind == FactKind.EXPIRY]
        ).values_list("id", "fact_kind", "fact_id")
    }
    scope = scope_for(actor)
    people = has_perm(actor, Perm.PEOPLE_VIEW)
    out = []
    for e in entries:
        v = EntryView(e=e, label=_rule_name(e.rule, e.fact_kind))
        if e.fact_kind in EVENT_KINDS:
            ev = events.get(e.fact_id)
            if ev is not None:
                v.event_id = e.fact_id
                v.detail = f"{ev[0]} {ev[1]}"
                v.url = reverse("events:detail", args=[e.fact_id])
            else:
                v.detail = e.note
        elif e.fact_kind == FactKind.HOUSEHOLD_VERIFY:
            if people and e.scope_code and scope.covers(e.scope_code):
                v.url = reverse("verification:task", args=[e.fact_id])
            v.detail = e.scope_code
        elif e.fact_kind == FactKind.REDEMPTION:
            r = redeemed.get(e.fact_id)
            v.detail = _reward_name(r.reward) if r else e.note
        elif e.fact_kind == FactKind.EXPIRY:
            lot = lots.get(e.fact_id)
            v.detail = _rule_name(None, lot[0]) if lot else ""
        else:
            v.detail = e.note
        out.append(v)
    return out


def _reward_name(r: Reward) -> str:
    return r.name_en if get_language() == "en" and r.name_en else r.name


# --- ranking boards -----------------------------------------------------------------------------
@dataclass
class RankRow:
    rank: int
    user_id: int
    name: str
    points: Decimal


@dataclass
class Ranking:
    code: str
    name: str
    period: str
    key: str  # "2026-03" or "2026"
    start: datetime
    end: datetime
    total: int  # workers ranked
    rows: list[RankRow] = field(default_factory=list)
    mine: RankRow | None = None


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


def _period(period: str, when: str) -> tuple[str, str, datetime, datetime]:
    today = local_date(timezone.now())
    try:
        period = Period(period or Period.MONTH)
    except ValueError:
        raise ValidationError(_("The period is month or year."), code="invalid_period") from None
    when = (when or "").strip()
    if period == Period.MONTH:
        m = _MONTH.match(when) if when else None
        y, mo = (int(m.group(1)), int(m.group(2))) if m else (today.year, today.month)
        if when and (not m or not 1 <= mo <= 12 or not 2000 <= y <= 2100):
            raise ValidationError(_("Give the month as YYYY-MM."), code="invalid_month")
        return period, f"{y:04d}-{mo:02d}", *month_bounds_of(y, mo)
    m = _YEAR.match(when) if when else None
    y = int(m.group(1)) if m else today.year
    if when and (not m or not 2000 <= y <= 2100):
        raise ValidationError(_("Give the year as YYYY."), code="invalid_year")
    return period, f"{y:04d}", *year_bounds_of(y)


def ranking(
    *,
    actor,
    code: str = "",
    period: str = "month",
    when: str = "",
    limit: int = 50,
    offset: int = 0,
) -> Ranking:
    """The ranking board of a node of the actor's scope (its own node by default) for a month
    (``when`` = YYYY-MM) or a year (YYYY): its workers by the points earned in the period, most
    first; equal points share a rank and are listed by user id. ``mine`` is the actor's row."""
    from wangge.regions.selectors import place_get

    access.require(actor, PointsPerm.RANKINGS)
    scope = scope_for(actor)
    code = C.normalize(code or "") or (scope.root or "")
    place = place_get(actor=actor, code=code)  # not found outside the scope
    period, key, start, end = _period(period, when)
    workers = _worker_posts(place.code).values("user_id")
    totals = list(
        Entry.objects.filter(user_id__in=workers, at__gte=start, at__lt=end)
        .exclude(fact_kind__in=LEDGER_KINDS)
        .values("user_id")
        .annotate(total=Sum("points"))
        .order_by("-total", "user_id")
        .values_list("user_id", "total")
    )
    board = Ranking(place.code, place.name, period, key, start, end, len(totals))
    ranks = []
    for i, (_uid, total) in enumerate(totals):
        same = i and q(totals[i - 1][1]) == q(total)
        ranks.append(ranks[-1] if same else i + 1)
    wanted = list(range(offset, min(len(totals), offset + max(0, limit))))
    own = getattr(actor, "user_id", None)
    mine_i = next((i for i, (uid, _t) in enumerate(totals) if uid == own), None)
    if mine_i is not None and mine_i not in wanted:
        wanted.append(mine_i)
    names = {
        u.pk: u.get_full_name() or u.username
        for u in get_user_model().objects.filter(pk__in=[totals[i][0] for i in wanted])
    }
    for i in wanted:
        uid, total = totals[i]
        row = RankRow(ranks[i], uid, names.get(uid, str(uid)), q(total))
        if offset <= i < offset + limit:
            board.rows.append(row)
        if i == mine_i:
            board.mine = row
    return board


# --- rules, rewards, redemptions ----------------------------------------------------------------
def rule_list(*, actor) -> QuerySet[Rule]:
    """The rule table (the same for everyone who may read it)."""
    access.require(actor, PointsPerm.CATALOGUE)
    return Rule.objects.order_by("action")


def rule_get(*, actor, action: str) -> Rule:
    access.require(actor, PointsPerm.CATALOGUE)
    rule = Rule.objects.filter(action=str(action)).first()
    if rule is None:
        raise NotFound(_("No such rule."))
    return rule


def reward_list(*, actor, include_inactive: bool = False) -> QuerySet[Reward]:
    """The reward catalogue, cheapest first; items withdrawn only for the administrator."""
    access.require(actor, PointsPerm.CATALOGUE)
    qs = Reward.objects.all()
    if not (include_inactive and access.may(actor, PointsPerm.EDIT)):
        qs = qs.filter(is_active=True)
    return qs.order_by("cost", "id")


def reward_get(*, actor, reward_id) -> Reward:
    try:
        pk = int(reward_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such reward.")) from None
    r = reward_list(actor=actor, include_inactive=True).filter(pk=pk).first()
    if r is None:
        raise NotFound(_("No such reward."))
    return r


def redemption_list(*, actor) -> QuerySet[Redemption]:
    """The actor's own redemptions, newest first."""
    user = _own_user(actor)
    return Redemption.objects.filter(user_id=user.pk).select_related("reward")
