"""Reads of door-to-door verification, always through the acting post's scope.

Coverage of a node in a cycle = households verified in that cycle ÷ households under the node
(every house counts, whether or not a round reached it yet), with the same figures for each
child of the node, summed by code prefix from the tasks' and houses' grid codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Substr
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core.errors import NotFound, ValidationError
from wangge.people.models import House, Resident
from wangge.people.selectors import resident_views
from wangge.regions import codes as C
from wangge.verification import labels
from wangge.verification.enums import ChangeKind, RoundState, TaskOutcome, TaskState
from wangge.verification.models import FieldChange, Round, Task


def round_list(*, actor, filters: dict | None = None) -> QuerySet[Round]:
    """Rounds on places in the scope, newest first; filter by place prefix, cycle, state."""
    require(actor, Perm.PEOPLE_VIEW)
    filters = filters or {}
    qs = scope_for(actor).filter(Round.objects.all(), "place_code")
    if filters.get("code"):
        qs = qs.filter(**C.prefix_filter(C.normalize(filters["code"]), "place_code"))
    if filters.get("cycle"):
        qs = qs.filter(cycle=filters["cycle"])
    if filters.get("state"):
        try:
            qs = qs.filter(state=RoundState(filters["state"]))
        except ValueError:
            raise ValidationError(_("Unknown state.")) from None
    return qs.annotate(tasks_done=Count("tasks", filter=Q(tasks__state=TaskState.DONE))).order_by(
        "-created_at", "-id"
    )


def round_get(*, actor, round_id) -> Round:
    require(actor, Perm.PEOPLE_VIEW)
    try:
        pk = int(round_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such round.")) from None
    r = (
        Round.objects.filter(pk=pk)
        .annotate(tasks_done=Count("tasks", filter=Q(tasks__state=TaskState.DONE)))
        .first()
    )
    if r is None or not scope_for(actor).covers(r.place_code):
        raise NotFound(_("No such round."))
    return r


def task_list(*, actor, rnd: Round, state: str = "") -> QuerySet[Task]:
    """The households of a round, in walking order (building, unit, floor, room)."""
    scope = scope_for(actor)
    scope.check(rnd.place_code)
    qs = Task.objects.filter(round=rnd).select_related("house__building")
    if state:
        try:
            qs = qs.filter(state=TaskState(state))
        except ValueError:
            raise ValidationError(_("Unknown state.")) from None
    return qs.annotate(
        members=Count("house__residents", filter=Q(house__residents__moved_out__isnull=True))
    ).order_by("house__building__address", "house__unit", "house__floor", "house__room", "id")


def task_get(*, actor, task_id) -> Task:
    require(actor, Perm.PEOPLE_VIEW)
    try:
        pk = int(task_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such task.")) from None
    t = (
        Task.objects.select_related("round", "house__building", "done_by__user")
        .filter(pk=pk)
        .first()
    )
    if t is None or not scope_for(actor).covers(t.grid_code):
        raise NotFound(_("No such task."))
    return t


def task_members(*, actor, task: Task):
    """The household's current members, masked for this post (the worker checks them)."""
    scope_for(actor).check(task.grid_code)
    residents = (
        Resident.objects.filter(house_id=task.house_id, moved_out__isnull=True)
        .select_related("house__building")
        .order_by("id")
    )
    return resident_views(actor=actor, residents=residents)


def task_changes(*, actor, task: Task) -> list[FieldChange]:
    scope_for(actor).check(task.grid_code)
    return list(task.changes.select_related("changed_by__user"))


# --- coverage -----------------------------------------------------------------------------------
@dataclass
class CoverageRow:
    code: str
    name: str
    households: int = 0
    in_rounds: int = 0
    verified: int = 0
    corrected: int = 0
    vacant: int = 0

    @property
    def percent(self) -> float:
        """Verified ÷ households, in percent (0 for a node with no households)."""
        return round(100.0 * self.verified / self.households, 1) if self.households else 0.0

    @property
    def pending(self) -> int:
        return self.in_rounds - self.verified


@dataclass
class Coverage:
    cycle: str
    total: CoverageRow
    children: list[CoverageRow] = field(default_factory=list)
    cycles: list[str] = field(default_factory=list)


def cycles_under(*, actor, code: str) -> list[str]:
    """The cycles of rounds that reach households under ``code``, newest first."""
    scope_for(actor).check(code)
    q = Q(place_code__in=C.ancestor_codes(code) + [code]) | Q(**C.prefix_filter(code, "place_code"))
    seen: dict[str, None] = {}
    for c in Round.objects.filter(q).order_by("-created_at").values_list("cycle", flat=True):
        seen.setdefault(c, None)
    return list(seen)


def coverage(*, actor, code: str, cycle: str = "") -> Coverage:
    """Verification coverage of a node and its children in one cycle (default: the newest)."""
    require(actor, Perm.PEOPLE_VIEW)
    code = C.normalize(code or "")
    if len(code) not in C.LENGTH_LEVELS:
        raise NotFound(_("No place has the code %(code)s.") % {"code": code})
    scope_for(actor).check(code)
    cycles = cycles_under(actor=actor, code=code)
    cycle = cycle or (cycles[0] if cycles else "")
    child_len = next((n for n in sorted(C.LENGTH_LEVELS) if n > len(code)), None)
    rows: dict[str, CoverageRow] = {}

    def row(c: str) -> CoverageRow:
        return rows.setdefault(c, CoverageRow(c, ""))

    houses = House.objects.filter(**C.prefix_filter(code, "grid_code"))
    tasks = Task.objects.filter(round__cycle=cycle, **C.prefix_filter(code, "grid_code"))
    total = CoverageRow(code, _place_name(code))
    total.households = houses.count()
    t = tasks.aggregate(
        n=Count("id"),
        done=Count("id", filter=Q(state=TaskState.DONE)),
        corrected=Count("id", filter=Q(outcome=TaskOutcome.CORRECTED)),
        vacant=Count("id", filter=Q(outcome=TaskOutcome.VACANT)),
    )
    total.in_rounds, total.verified = t["n"], t["done"]
    total.corrected, total.vacant = t["corrected"], t["vacant"]
    if child_len:
        key = Substr("grid_code", 1, child_len)
        for c, n in houses.annotate(k=key).values_list("k").annotate(n=Count("id")):
            row(c).households = n
        for c, n, done, corr, vac in (
            tasks.annotate(k=key)
            .values_list("k")
            .annotate(
                n=Count("id"),
                done=Count("id", filter=Q(state=TaskState.DONE)),
                corr=Count("id", filter=Q(outcome=TaskOutcome.CORRECTED)),
                vac=Count("id", filter=Q(outcome=TaskOutcome.VACANT)),
            )
        ):
            r = row(c)
            r.in_rounds, r.verified, r.corrected, r.vacant = n, done, corr, vac
        names = labels.place_names(list(rows))
        for c, r in rows.items():
            r.name = names.get(c, c)
    return Coverage(
        cycle=cycle,
        total=total,
        children=sorted(rows.values(), key=lambda r: r.code),
        cycles=cycles,
    )


def _place_name(code: str) -> str:
    return labels.place_names([code]).get(code, code)


# --- discrepancies ------------------------------------------------------------------------------
def change_list(*, actor, code: str, cycle: str = "", kind: str = "") -> QuerySet[FieldChange]:
    """What verification changed under a node (in a cycle): the discrepancy report."""
    require(actor, Perm.PEOPLE_VIEW)
    code = C.normalize(code or "")
    scope_for(actor).check(code)
    qs = FieldChange.objects.filter(**C.prefix_filter(code, "grid_code"))
    if cycle:
        qs = qs.filter(task__round__cycle=cycle)
    if kind:
        try:
            qs = qs.filter(kind=ChangeKind(kind))
        except ValueError:
            raise ValidationError(_("Unknown kind.")) from None
    return qs.select_related("house__building", "changed_by__user", "task__round").order_by(
        "-changed_at", "-id"
    )


def change_summary(*, actor, code: str, cycle: str = "") -> list[tuple[str, str, int]]:
    """(kind, field, count) of the changes under a node, most frequent first."""
    qs = change_list(actor=actor, code=code, cycle=cycle)
    return [
        (k, f, n)
        for k, f, n in qs.order_by()
        .values_list("kind", "field")
        .annotate(n=Count("id"))
        .order_by("-n", "kind", "field")
    ]
