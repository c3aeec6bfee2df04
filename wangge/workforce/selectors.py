"""Reads of the grid workforce, always through the acting post's scope, phones always masked.

A post sees a worker registered under its scope or assigned to a place in it now; assignments,
handovers, duty sessions and party organisations by the code of their place. Anything outside
the scope is "not found", the same answer as for what does not exist. A worker's full phone
number never leaves this module: views carry it masked.

The coverage report of a node counts, for the node and each of its children: grids (general
and exclusive) and micro-grids, those of them without a primary worker, sunk cadres and how
many are placed in a grid (进网入格), and workers on duty now; it lists the places without a
primary worker, the workers over their load (``WANGGE_WORKER_MAX_LOAD``, places held) and the
cadres not yet placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm, Role
from wangge.accounts.models import Post, Unit
from wangge.accounts.rules import has_perm, require
from wangge.accounts.scope import scope_for
from wangge.core.errors import NotFound, ValidationError
from wangge.core.masking import mask_phone
from wangge.people.crypto import Field, get_keyring
from wangge.people.text import PHONE_RE, compact_query
from wangge.regions import codes as C
from wangge.regions.enums import GridKind, Level
from wangge.regions.models import Grid, Region
from wangge.verification.labels import place_names
from wangge.workforce.enums import (
    AssignmentRole,
    Skill,
    WorkerKind,
    WorkerStatus,
)
from wangge.workforce.models import (
    Assignment,
    DutySession,
    Handover,
    PartyOrganisation,
    PatrolPoint,
    Worker,
)

GAPS_LISTED = 500  # places without a primary worker listed by the report (all are counted)


def _pk(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(_("No such %(what)s.") % {"what": what}) from None


def _open_assignments() -> QuerySet[Assignment]:
    return Assignment.objects.filter(ended_at__isnull=True)


def _load_limit(kind: str) -> int:
    """Places a worker of this kind holds before counting as overloaded."""
    return int(settings.WANGGE_WORKER_MAX_LOAD.get(str(kind), 2))


# --- workers -------------------------------------------------------------------------------------
def worker_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Worker]:
    """Workers the post sees, filtered by kind, status (default: everyone who has not left),
    place (registered or assigned under a code), skill, team, or ``q``: a name prefix or an
    exact phone number (by its blind index)."""
    require(actor, Perm.WORKFORCE_VIEW)
    filters = filters or {}
    scope = scope_for(actor)
    if not scope.prefixes:
        return Worker.objects.none()
    assigned = _open_assignments().filter(scope.q("place_code")).values("worker_id")
    qs = Worker.objects.filter(scope.q("place_code") | Q(pk__in=assigned))
    if filters.get("kind"):
        try:
            qs = qs.filter(kind=WorkerKind(filters["kind"]))
        except ValueError:
            raise ValidationError(_("Unknown kind of worker.")) from None
    status = filters.get("status") or ""
    if status == "all":
        pass
    elif status:
        try:
            qs = qs.filter(status=WorkerStatus(status))
        except ValueError:
            raise ValidationError(_("Unknown status.")) from None
    else:
        qs = qs.exclude(status=WorkerStatus.LEFT)
    if code := C.normalize(filters.get("grid") or filters.get("code") or ""):
        under = _open_assignments().filter(**C.prefix_filter(code, "place_code"))
        qs = qs.filter(
            Q(**C.prefix_filter(code, "place_code")) | Q(pk__in=under.values("worker_id"))
        )
    if filters.get("skill"):
        try:
            skill = Skill(filters["skill"]).value
        except ValueError:
            raise ValidationError(_("Unknown skill.")) from None
        # the JSON text of the list holds the code in quotes (containment differs by database)
        qs = qs.filter(skills__icontains=f'"{skill}"')
    if filters.get("team"):
        qs = qs.filter(team_id=_pk(filters["team"], _("team")))
    q = (filters.get("q") or "").strip()
    if q:
        compact = compact_query(q)
        if PHONE_RE.match(compact):
            qs = qs.filter(phone_index=get_keyring().blind_index(compact, field=Field.PHONE))
        else:
            qs = qs.filter(name__startswith=q)
    return qs.select_related("team", "unit").order_by("place_code", "name", "id")


def worker_get(*, actor, worker_id) -> Worker:
    """One worker the post sees; ``NotFound`` otherwise (also for malformed ids)."""
    pk = _pk(worker_id, _("worker"))
    w = worker_list(actor=actor, filters={"status": "all"}).filter(pk=pk).first()
    if w is None:
        raise NotFound(_("No such worker."))
    return w


def worker_me(*, actor) -> Worker | None:
    """The worker acting through this post, if the post's user is on the roster."""
    if getattr(actor, "user_id", None) is None:
        return None
    return Worker.objects.filter(user_id=actor.user_id).first()


@dataclass(frozen=True)
class PlaceRef:
    code: str
    name: str
    role: str = ""
    role_label: str = ""
    assignment_id: int | None = None


@dataclass(frozen=True)
class WorkerView:
    id: int
    name: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    phone: str  # masked
    place_code: str
    place_name: str
    skills: list[str]
    skill_labels: list[str]
    origin: str
    team: str
    unit: str
    username: str
    places: list[PlaceRef] = field(default_factory=list)
    load: int = 0
    limit: int = 0

    @property
    def overloaded(self) -> bool:
        return self.load > self.limit


def _masked_phone(token: str) -> str:
    """The mask of a stored phone; the decrypted value never leaves this function."""
    return mask_phone(get_keyring().decrypt(token, field=Field.PHONE)) if token else ""


def worker_views(*, actor, workers) -> list[WorkerView]:
    """Masked views of workers, with their open assignments (two queries for the page)."""
    workers = list(workers)
    scope = scope_for(actor)
    assigned = _assigned_in(scope, workers)
    for w in workers:
        if not (scope.covers(w.place_code) or w.pk in assigned):
            raise NotFound(_("No such worker."))
    by_worker: dict[int, list[Assignment]] = {w.pk: [] for w in workers}
    for a in _open_assignments().filter(worker__in=workers).order_by("role", "place_code"):
        by_worker[a.worker_id].append(a)
    codes = {w.place_code for w in workers} | {
        a.place_code for lst in by_worker.values() for a in lst
    }
    names = place_names(sorted(codes))
    users = dict(
        Worker.objects.filter(pk__in=[w.pk for w in workers]).values_list("pk", "user__username")
    )
    skills = dict(Skill.choices)
    out = []
    for w in workers:
        mine = by_worker[w.pk]
        out.append(
            WorkerView(
                id=w.pk,
                name=w.name,
                kind=w.kind,
                kind_label=str(WorkerKind(w.kind).label),
                status=w.status,
                status_label=str(WorkerStatus(w.status).label),
                phone=_masked_phone(w.phone_enc),
                place_code=w.place_code,
                place_name=names.get(w.place_code, w.place_code),
                skills=list(w.skills or []),
                skill_labels=[str(skills.get(s, s)) for s in w.skills or []],
                origin=w.origin,
                team=w.team.name if w.team_id else "",
                unit=w.unit.name if w.unit_id else "",
                username=users.get(w.pk, ""),
                places=[
                    PlaceRef(
                        a.place_code,
                        names.get(a.place_code, a.place_code),
                        a.role,
                        str(AssignmentRole(a.role).label),
                        a.pk,
                    )
                    for a in mine
                ],
                load=len(mine),
                limit=_load_limit(w.kind),
            )
        )
    return out


def _assigned_in(scope, workers) -> set[int]:
    ids = [w.pk for w in workers if not scope.covers(w.place_code)]
    if not ids:
        return set()
    return set(
        _open_assignments()
        .filter(scope.q("place_code"), worker_id__in=ids)
        .values_list("worker_id", flat=True)
    )


def worker_view(*, actor, worker: Worker) -> WorkerView:
    return worker_views(actor=actor, workers=[worker])[0]


# --- assignments and handovers ------------------------------------------------------------------
def assignment_list(
    *, actor, worker: Worker | None = None, code: str = "", open_only: bool = False
) -> QuerySet[Assignment]:
    """Assignments on places in the scope (a worker's history, or a place's), newest first."""
    require(actor, Perm.WORKFORCE_VIEW)
    qs = scope_for(actor).filter(Assignment.objects.all(), "place_code")
    if worker is not None:
        qs = qs.filter(worker=worker)
    if code:
        qs = qs.filter(**C.prefix_filter(C.normalize(code), "place_code"))
    if open_only:
        qs = qs.filter(ended_at__isnull=True)
    return qs.select_related(
        "worker", "started_by__user", "ended_by__user", "handover__to_worker"
    ).order_by("-started_at", "-id")


def assignment_get(*, actor, assignment_id) -> Assignment:
    pk = _pk(assignment_id, _("assignment"))
    a = assignment_list(actor=actor).filter(pk=pk).first()
    if a is None:
        raise NotFound(_("No such assignment."))
    return a


def handover_list(*, actor, worker: Worker | None = None, code: str = "") -> QuerySet[Handover]:
    require(actor, Perm.WORKFORCE_VIEW)
    qs = scope_for(actor).filter(Handover.objects.all(), "place_code")
    if worker is not None:
        qs = qs.filter(Q(from_worker=worker) | Q(to_worker=worker))
    if code:
        qs = qs.filter(**C.prefix_filter(C.normalize(code), "place_code"))
    return (
        qs.select_related("from_worker", "to_worker", "by__user")
        .annotate(n_tasks=Count("tasks"))
        .order_by("-at", "-id")
    )


def recent_work(*, actor, worker: Worker, limit: int = 10) -> dict[str, Any]:
    """What the worker did lately through their posts: households verified (how many in 30
    days, the last few)."""
    from wangge.verification.enums import TaskState
    from wangge.verification.models import Task

    require(actor, Perm.WORKFORCE_VIEW)
    scope = scope_for(actor)
    posts = Post.objects.filter(user_id=worker.user_id).values("pk")
    done = scope.filter(
        Task.objects.filter(done_by__in=posts, state=TaskState.DONE), "grid_code"
    ).select_related("house__building", "round")
    since = timezone.now() - timedelta(days=30)
    return {
        "verified_30d": done.filter(done_at__gte=since).count(),
        "verified_last": list(done.order_by("-done_at", "-id")[:limit]),
    }


# --- a place's team -------------------------------------------------------------------------------
@dataclass
class TeamPlace:
    code: str
    name: str
    kind: str
    primary: WorkerView | None = None
    helpers: list[WorkerView] = field(default_factory=list)


@dataclass
class Team:
    place: Any  # Grid or Region
    primary: WorkerView | None
    helpers: dict[str, list[WorkerView]]  # kind label → workers
    children: list[TeamPlace]
    party_org: PartyOrganisation | None
    on_duty: list[DutySession]
    secretary: WorkerView | None = None


def _place(actor, code: str):
    code = C.normalize(code or "")
    scope_for(actor).check(code)
    model = Grid if len(code) >= 15 else Region
    place = model.objects.filter(code=code).defer("geometry").first() if C.is_valid(code) else None
    if place is None:
        raise NotFound(_("No place has the code %(code)s.") % {"code": code})
    return place


def team(*, actor, code: str) -> Team:
    """The people of a grid (or micro-grid): its primary worker, helpers by kind, the workers
    of its micro-grids, its party organisation, who is on duty there now."""
    require(actor, Perm.WORKFORCE_VIEW)
    place = _place(actor, code)
    here = list(
        _open_assignments()
        .filter(place_code=place.code)
        .select_related("worker__team", "worker__unit")
        .order_by("role", "worker__kind", "worker__name")
    )
    views = {v.id: v for v in worker_views(actor=actor, workers=[a.worker for a in here])}
    primary = next((views[a.worker_id] for a in here if a.role == AssignmentRole.PRIMARY), None)
    helpers: dict[str, list[WorkerView]] = {}
    for a in here:
        if a.role == AssignmentRole.HELPER:
            v = views[a.worker_id]
            helpers.setdefault(v.kind_label, []).append(v)
    children: list[TeamPlace] = []
    if isinstance(place, Grid) and place.kind != GridKind.MICRO:
        kids = list(Grid.objects.filter(parent=place).defer("geometry").order_by("code"))
        below = list(
            _open_assignments()
            .filter(place_code__in=[k.code for k in kids])
            .select_related("worker__team", "worker__unit")
        )
        kid_views = {v.id: v for v in worker_views(actor=actor, workers=[a.worker for a in below])}
        rows = {k.code: TeamPlace(k.code, k.name, k.kind) for k in kids}
        for a in below:
            row = rows[a.place_code]
            if a.role == AssignmentRole.PRIMARY:
                row.primary = kid_views[a.worker_id]
            else:
                row.helpers.append(kid_views[a.worker_id])
        children = list(rows.values())
    org_code = place.code if len(place.code) >= 15 else ""
    org = (
        PartyOrganisation.objects.filter(grid_code__in=[org_code, org_code[:15]])
        .select_related("secretary")
        .order_by("-grid_code")
        .first()
        if org_code
        else None
    )
    secretary = None
    if org is not None and org.secretary_id:
        try:
            secretary = worker_view(actor=actor, worker=org.secretary)
        except NotFound:
            secretary = None
    return Team(
        place=place,
        primary=primary,
        helpers=helpers,
        children=children,
        party_org=org,
        on_duty=list(duty_now(actor=actor, code=place.code).select_related("worker")),
        secretary=secretary,
    )


def responsible_posts(*, actor, grid_code: str) -> list[Post]:
    """The active posts answering for a grid: the primary worker of the micro-grid (if it is
    one) and of its grid, nearest first. What other apps (events, perception) ask instead of
    reading the worker tables."""
    code = C.normalize(grid_code or "")
    scope_for(actor).check(code)
    chain = [c for c in (code, code[:15]) if len(c) >= 15]
    rows = (
        _open_assignments()
        .filter(place_code__in=chain, role=AssignmentRole.PRIMARY, post__is_active=True)
        .select_related("post__user")
    )
    by_code = {a.place_code: a.post for a in rows}
    return [by_code[c] for c in dict.fromkeys(chain) if c in by_code]


# --- coverage ------------------------------------------------------------------------------------
@dataclass
class CoverageRow:
    code: str
    name: str = ""
    grids: int = 0  # general and exclusive grids
    grids_without: int = 0  # … without a primary worker
    micros: int = 0
    micros_without: int = 0
    cadres: int = 0  # sunk cadres (not those who left)
    cadres_placed: int = 0
    on_duty: int = 0

    @property
    def cadres_unplaced(self) -> int:
        return self.cadres - self.cadres_placed

    @property
    def placed_percent(self) -> float:
        return round(100.0 * self.cadres_placed / self.cadres, 1) if self.cadres else 0.0


@dataclass(frozen=True)
class Gap:
    code: str
    name: str
    kind: str
    community: str  # the community's code (assignments are made by its secretary and above)


@dataclass(frozen=True)
class Overload:
    worker: Worker
    load: int
    limit: int


@dataclass
class Coverage:
    code: str
    name: str
    total: CoverageRow
    children: list[CoverageRow]
    gaps: list[Gap]  # the first GAPS_LISTED places without a primary worker
    overloaded: list[Overload]
    unplaced: list[Worker]
    limits: dict[str, int]


def _child_key(code: str) -> tuple[int | None, Any]:
    """The length of a child's code under ``code``, and the expression cutting a code to it."""
    n = next((k for k in sorted(C.LENGTH_LEVELS) if k > len(code)), None)
    return n, (lambda f: Substr(f, 1, n)) if n else None


def _cadres_here(code: str) -> QuerySet[Worker]:
    """Cadres counted under a node: placed ones where their places are, others where they are
    registered."""
    placed_under = _open_assignments().filter(**C.prefix_filter(code, "place_code"))
    return (
        Worker.objects.filter(kind=WorkerKind.CADRE)
        .exclude(status=WorkerStatus.LEFT)
        .filter(
            Q(pk__in=placed_under.values("worker_id"))
            | (
                Q(**C.prefix_filter(code, "place_code"))
                & ~Exists(_open_assignments().filter(worker=OuterRef("pk")))
            )
        )
    )


def coverage(*, actor, code: str = "") -> Coverage:
    """The coverage report of a node (default: the post's own place) and its children."""
    require(actor, Perm.WORKFORCE_VIEW)
    scope = scope_for(actor)
    code = C.normalize(code or "") or (scope.root or "")
    place = _place(actor, code)
    n, cut = _child_key(code)
    grids = Grid.objects.filter(**C.prefix_filter(code, "code"))
    primaries = _open_assignments().filter(
        role=AssignmentRole.PRIMARY, **C.prefix_filter(code, "place_code")
    )
    rows: dict[str, CoverageRow] = {}

    def row(c: str) -> CoverageRow:
        return rows.setdefault(c, CoverageRow(c))

    total = CoverageRow(code, place.name)
    # places, and places with a primary worker, by level (and by child)
    for level, n_places in grids.values_list("level").annotate(k=Count("id")):
        _add_places(total, level, n_places, 0)
    for length, n_primary in (
        primaries.annotate(ln=Length("place_code")).values_list("ln").annotate(k=Count("id"))
    ):
        _add_places(total, _level_of_length(length), 0, n_primary)
    if n:
        for child, level, n_places in (
            grids.annotate(c=cut("code")).values_list("c", "level").annotate(k=Count("id"))
        ):
            if len(child) == n:
                _add_places(row(child), level, n_places, 0)
        for child, length, n_primary in (
            primaries.annotate(c=cut("place_code"), ln=Length("place_code"))
            .values_list("c", "ln")
            .annotate(k=Count("id"))
        ):
            if len(child) == n:
                _add_places(row(child), _level_of_length(length), 0, n_primary)
    # sunk cadres, placed or not
    cadres = _cadres_here(code)
    placed_ids = set(_open_assignments().filter(worker__in=cadres).values_list("worker", flat=True))
    cadre_rows = list(cadres.values_list("pk", "place_code"))
    total.cadres = len(cadre_rows)
    total.cadres_placed = sum(1 for pk, _c in cadre_rows if pk in placed_ids)
    if n:
        first_place = {}
        for wid, pc in (
            _open_assignments()
            .filter(worker__in=cadres, **C.prefix_filter(code, "place_code"))
            .order_by("started_at", "id")
            .values_list("worker_id", "place_code")
        ):
            first_place.setdefault(wid, pc)
        for pk, home in cadre_rows:
            where = first_place.get(pk, home)
            if len(where) >= n:
                r = row(where[:n])
                r.cadres += 1
                r.cadres_placed += pk in placed_ids
    # on duty now
    now = duty_now(actor=actor, code=code)
    total.on_duty = now.count()
    if n:
        for child, k in now.annotate(c=cut("place_code")).values_list("c").annotate(k=Count("id")):
            if len(child) == n:
                row(child).on_duty = k
    names = place_names(list(rows))
    for c, r in rows.items():
        r.name = names.get(c, c)
    gaps_qs = (
        grids.exclude(code__in=primaries.values("place_code")).defer("geometry").order_by("code")
    )
    gaps = [Gap(g.code, g.name, g.kind, g.code[:12]) for g in gaps_qs[:GAPS_LISTED]]
    return Coverage(
        code=code,
        name=place.name,
        total=total,
        children=sorted(rows.values(), key=lambda r: r.code),
        gaps=gaps,
        overloaded=_overloaded(actor, code),
        unplaced=list(
            cadres.exclude(pk__in=placed_ids).select_related("user").order_by("place_code", "name")
        ),
        limits=dict(settings.WANGGE_WORKER_MAX_LOAD),
    )


def _level_of_length(length: int) -> str:
    return C.LENGTH_LEVELS[int(length)].value


def _add_places(r: CoverageRow, level: str, n_places: int, n_primary: int) -> None:
    if level == Level.MICRO:
        r.micros += n_places
        r.micros_without += n_places - n_primary
    elif level == Level.GRID:
        r.grids += n_places
        r.grids_without += n_places - n_primary


def _overloaded(actor, code: str) -> list[Overload]:
    """Workers with places under the node who hold more places than their kind's limit."""
    under = _open_assignments().filter(**C.prefix_filter(code, "place_code"))
    loads = (
        _open_assignments()
        .filter(worker__in=under.values("worker_id"))
        .values_list("worker_id", "worker__kind")
        .annotate(k=Count("id"))
    )
    over = {wid: k for wid, kind, k in loads if k > _load_limit(kind)}
    workers = Worker.objects.filter(pk__in=over).order_by("place_code", "name")
    return [Overload(w, over[w.pk], _load_limit(w.kind)) for w in workers]


def assign_candidates(*, actor, code: str, kind: str = "") -> list[WorkerView]:
    """Workers who may take a place: active workers of ``kind`` (default: the place's primary
    kind, for a place that lacks its primary worker) whom the post sees, registered in the
    place's community or assigned in it, not on the place yet, fewest places first."""
    require(actor, Perm.WORKFORCE_MANAGE)
    place = _place(actor, code)
    if kind:
        try:
            kind = WorkerKind(kind)
        except ValueError:
            raise ValidationError(_("Unknown kind of worker.")) from None
    else:
        kind = WorkerKind.MICRO if len(place.code) == 18 else WorkerKind.FULL_TIME
    community = place.code[:12]
    qs = worker_list(
        actor=actor, filters={"kind": kind, "status": WorkerStatus.ACTIVE, "code": community}
    ).exclude(pk__in=_open_assignments().filter(place_code=place.code).values("worker_id"))
    qs = qs.annotate(
        load=Count("assignments", filter=Q(assignments__ended_at__isnull=True))
    ).order_by("load", "name", "id")
    return worker_views(actor=actor, workers=list(qs[:100]))


# --- duty ----------------------------------------------------------------------------------------
def duty_now(*, actor, code: str = "") -> QuerySet[DutySession]:
    """Sessions open now under a node (default: the whole scope); one still open after
    ``WANGGE_DUTY_MAX_HOURS`` (forgotten check-out) no longer counts."""
    require(actor, Perm.WORKFORCE_VIEW)
    scope = scope_for(actor)
    since = timezone.now() - timedelta(hours=settings.WANGGE_DUTY_MAX_HOURS)
    qs = scope.filter(DutySession.objects.all(), "place_code").filter(
        ended_at__isnull=True, started_at__gte=since
    )
    if code:
        code = _place(actor, code).code  # NotFound outside the scope, or for no such place
        qs = qs.filter(**C.prefix_filter(code, "place_code"))
    return qs


def on_duty_count(*, actor, code: str = "") -> int:
    """Workers on duty now under a node (the cockpit's figure)."""
    return duty_now(actor=actor, code=code).count()


def on_duty_by_child(*, actor, code: str) -> dict[str, int]:
    """Workers on duty now under each child of a node (children with nobody are left out)."""
    n, cut = _child_key(C.normalize(code))
    if not n:
        return {}
    return {
        child: k
        for child, k in duty_now(actor=actor, code=code)
        .annotate(c=cut("place_code"))
        .values_list("c")
        .annotate(k=Count("id"))
        if len(child) == n
    }


def duty_list(*, actor, worker: Worker | None = None, code: str = "") -> QuerySet[DutySession]:
    """Duty sessions on places in the scope (a worker's own always), newest first."""
    scope = scope_for(actor)
    me = worker_me(actor=actor)
    if worker is not None and me is not None and worker.pk == me.pk:
        qs = DutySession.objects.filter(worker=me)
    else:
        require(actor, Perm.WORKFORCE_VIEW)
        qs = scope.filter(DutySession.objects.all(), "place_code")
        if worker is not None:
            qs = qs.filter(worker=worker)
    if code:
        qs = qs.filter(**C.prefix_filter(C.normalize(code), "place_code"))
    return qs.select_related("worker").order_by("-started_at", "-id")


def duty_get(*, actor, session_id) -> DutySession:
    """A session on a place in the scope, or one's own; ``NotFound`` otherwise."""
    pk = _pk(session_id, _("duty session"))
    s = DutySession.objects.select_related("worker").filter(pk=pk).first()
    if s is None:
        raise NotFound(_("No such duty session."))
    me = worker_me(actor=actor)
    mine = me is not None and s.worker_id == me.pk and has_perm(actor, Perm.DUTY_CHECKIN)
    if not mine and not (
        has_perm(actor, Perm.WORKFORCE_VIEW) and scope_for(actor).covers(s.place_code)
    ):
        raise NotFound(_("No such duty session."))
    return s


def duty_current(*, actor) -> DutySession | None:
    """The acting worker's open session, if any."""
    me = worker_me(actor=actor)
    if me is None or not has_perm(actor, Perm.DUTY_CHECKIN):
        return None
    return DutySession.objects.filter(worker=me, ended_at__isnull=True).first()


def duty_trace(*, actor, session: DutySession) -> dict[str, Any]:
    """The session as GeoJSON: the patrol route (a LineString, points in time order), the
    check-in and check-out points (with their distance and flag) and the place's outline."""
    duty_get(actor=actor, session_id=session.pk)  # the same access rule
    coords = [
        [lon, lat]
        for lon, lat in PatrolPoint.objects.filter(session=session)
        .order_by("at", "id")
        .values_list("lon", "lat")
    ]
    features: list[dict[str, Any]] = []
    model = Grid if len(session.place_code) >= 15 else Region
    outline = model.objects.filter(code=session.place_code).values_list("geometry", flat=True)
    if outline and outline[0]:
        import json

        features.append(
            {
                "type": "Feature",
                "properties": {"role": "place", "code": session.place_code},
                "geometry": json.loads(outline[0]),
            }
        )
    if len(coords) >= 2:
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "route", "points": len(coords)},
                "geometry": {"type": "LineString", "coordinates": coords},
            }
        )
    for role, lon, lat, dist, far in (
        (
            "check_in",
            session.start_lon,
            session.start_lat,
            session.start_distance_m,
            session.start_far,
        ),
        ("check_out", session.end_lon, session.end_lat, session.end_distance_m, session.end_far),
    ):
        if lon is not None and lat is not None:
            features.append(
                {
                    "type": "Feature",
                    "properties": {"role": role, "distance_m": dist, "far": far},
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                }
            )
    return {"type": "FeatureCollection", "features": features}


# --- party organisations and units --------------------------------------------------------------
def party_org_list(*, actor, code: str = "") -> QuerySet[PartyOrganisation]:
    require(actor, Perm.WORKFORCE_VIEW)
    scope = scope_for(actor)
    qs = scope.filter(PartyOrganisation.objects.all(), "grid_code")
    if code:
        qs = qs.filter(**C.prefix_filter(C.normalize(code), "grid_code"))
    return qs.select_related("secretary").order_by("grid_code")


def _unit_visible(actor, unit: Unit) -> bool:
    if getattr(actor, "unit_id", None) == unit.pk:
        return True
    if not has_perm(actor, Perm.WORKFORCE_VIEW):
        return False
    scope = scope_for(actor)
    area = unit.region_code or C.CITY_CODE
    # a unit serving the post's area (or part of it)
    return scope.covers(area) or any(p.startswith(area) for p in scope.prefixes)


def unit_list(*, actor) -> list[Unit]:
    """The handling units serving the post's area (a handler: their own unit)."""
    return [
        u for u in Unit.objects.filter(is_active=True).order_by("code") if _unit_visible(actor, u)
    ]


@dataclass(frozen=True)
class UnitCategory:
    code: str
    name: str
    how: str  # "rule": a dispatch rule names the unit; "kind": the category's default unit kind
    region_code: str = ""


@dataclass(frozen=True)
class UnitDetail:
    unit: Unit
    categories: list[UnitCategory]
    handlers: list[Post]
    any_category_regions: list[str]  # dispatch rules sending every category to the unit


def unit_detail(*, actor, unit_id) -> UnitDetail:
    """A unit, the event categories it handles and its handlers (posts held in it).

    The categories are read from the events app's own tables, which stay as they are: the
    dispatch rules that name the unit, and the active categories whose default handling unit
    is of the unit's kind."""
    from wangge.events.models import Category, DispatchRule

    pk = _pk(unit_id, _("unit"))
    unit = Unit.objects.filter(pk=pk, is_active=True).first()
    if unit is None or not _unit_visible(actor, unit):
        raise NotFound(_("No such unit."))
    zh = (get_language() or "").startswith("zh")
    cats: dict[str, UnitCategory] = {}
    anywhere = []
    for rule_ in DispatchRule.objects.filter(unit=unit).select_related("category"):
        c = rule_.category
        if c is None:
            anywhere.append(rule_.region_code)
            continue
        cats[c.code] = UnitCategory(c.code, c.name if zh else c.name_en, "rule", rule_.region_code)
    for c in Category.objects.filter(unit_kind=unit.kind, is_active=True).order_by("code"):
        cats.setdefault(c.code, UnitCategory(c.code, c.name if zh else c.name_en, "kind"))
    handlers = list(
        Post.objects.filter(unit=unit, role=Role.UNIT_HANDLER, is_active=True)
        .select_related("user")
        .order_by("id")
    )
    return UnitDetail(
        unit=unit,
        categories=sorted(cats.values(), key=lambda c: c.code),
        handlers=handlers,
        any_category_regions=sorted(anywhere),
    )
