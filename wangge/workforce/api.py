"""REST API of the grid workforce: the roster (masked phones), assignments and handovers, a
place's team, the coverage report, duty (check-in/out, patrol batches, who is on duty), party
organisations, units, and the roster import. Parse → call a service or selector → serialise."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import PageNumberPagination, paginate

from wangge.accounts.scope import scope_for
from wangge.core import uploads
from wangge.core.errors import NotFound, ValidationError
from wangge.core.paging import MappedPage
from wangge.workforce import selectors, services
from wangge.workforce.imports import UPLOAD, roster_import

router = Router(tags=["workforce"])


class ErrorOut(Schema):
    error: dict


class PlaceOut(Schema):
    code: str
    name: str
    role: str = ""
    assignment_id: int | None = None


class WorkerOut(Schema):
    id: int
    name: str
    kind: str
    status: str
    phone: str = Field(description="Masked, e.g. 138****5678")
    place_code: str = Field(description="Where the worker is registered")
    skills: list[str]
    origin: str
    team: str
    unit: str
    places: list[PlaceOut] = Field(description="Open assignments")
    load: int
    limit: int


def _worker(v) -> dict:
    return {
        **{k: getattr(v, k) for k in WorkerOut.model_fields if k != "places"},
        "places": [
            {"code": p.code, "name": p.name, "role": p.role, "assignment_id": p.assignment_id}
            for p in v.places
        ],
    }


class AssignmentOut(Schema):
    id: int
    worker_id: int
    place_code: str
    role: str
    post_id: int | None
    started_at: datetime
    ended_at: datetime | None
    end_reason: str
    successor_id: int | None = None


def _assignment(a) -> dict:
    h = getattr(a, "handover", None) if a.ended_at else None
    return {
        "id": a.pk,
        "worker_id": a.worker_id,
        "place_code": a.place_code,
        "role": a.role,
        "post_id": a.post_id,
        "started_at": a.started_at,
        "ended_at": a.ended_at,
        "end_reason": a.end_reason,
        "successor_id": h.to_worker_id if h else None,
    }


class HandoverOut(Schema):
    id: int
    assignment_id: int
    place_code: str
    from_worker_id: int
    to_worker_id: int | None
    to_assignment_id: int | None
    to_code: str = Field(description="The community that keeps the work when nobody took it")
    closed_post_id: int | None
    opened_post_id: int | None
    open_tasks: list[int] = Field(description="Verification tasks open at the handover")
    at: datetime


def _handover(h) -> dict:
    return {
        "id": h.pk,
        "assignment_id": h.assignment_id,
        "place_code": h.place_code,
        "from_worker_id": h.from_worker_id,
        "to_worker_id": h.to_worker_id,
        "to_assignment_id": h.to_assignment_id,
        "to_code": h.to_code,
        "closed_post_id": h.closed_post_id,
        "opened_post_id": h.opened_post_id,
        "open_tasks": sorted(h.tasks.values_list("id", flat=True)),
        "at": h.at,
    }


class DutyOut(Schema):
    id: int
    worker_id: int
    place_code: str
    started_at: datetime
    start_distance_m: float | None
    start_far: bool
    ended_at: datetime | None
    end_distance_m: float | None
    end_far: bool
    points: int


def _duty(s) -> dict:
    return {k: getattr(s, k) for k in DutyOut.model_fields}


class WorkerDetailOut(WorkerOut):
    assignments: list[AssignmentOut]
    handovers: list[HandoverOut]
    duty: list[DutyOut]
    verified_30d: int


# --- workers ------------------------------------------------------------------------------------
@router.get("/workers", response=list[WorkerOut], summary="Workers in scope (masked phones)")
@paginate(PageNumberPagination, page_size=50)
def worker_list(
    request,
    kind: str = "",
    status: str = "",
    grid: str = "",
    skill: str = "",
    q: str = "",
):
    """``q``: a name prefix, or an exact phone number (found by its blind index)."""
    qs = selectors.worker_list(
        actor=request.post,
        filters={"kind": kind, "status": status, "grid": grid, "skill": skill, "q": q},
    )
    return MappedPage(
        qs,
        lambda rows: [_worker(v) for v in selectors.worker_views(actor=request.post, workers=rows)],
    )


class WorkerIn(Schema):
    name: str
    kind: str = Field(description="full_time, micro, cadre, volunteer, police, emergency, veterans")
    phone: str
    place_code: str = Field(description="Where the worker is registered (a grid: its community)")
    skills: list[str] = Field(default_factory=list)
    origin: str = Field("", description="A sunk cadre's sending body")
    team: str = Field("", description="A volunteer's team")
    unit: str = Field("", description="A liaison's unit (code)")


@router.post(
    "/workers",
    response={201: WorkerOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Register a worker (a user account without a password is made)",
)
def worker_create(request, body: WorkerIn):
    w = services.worker_register(actor=request.post, **body.dict())
    return 201, _worker(selectors.worker_view(actor=request.post, worker=w))


@router.get(
    "/workers/{int:worker_id}",
    response={200: WorkerDetailOut, 404: ErrorOut},
    summary="A worker: places, assignment history, handovers, recent duty and work",
)
def worker_detail(request, worker_id: int):
    post = request.post
    w = selectors.worker_get(actor=post, worker_id=worker_id)
    work = selectors.recent_work(actor=post, worker=w)
    return {
        **_worker(selectors.worker_view(actor=post, worker=w)),
        "assignments": [_assignment(a) for a in selectors.assignment_list(actor=post, worker=w)],
        "handovers": [_handover(h) for h in selectors.handover_list(actor=post, worker=w)[:50]],
        "duty": [_duty(s) for s in selectors.duty_list(actor=post, worker=w)[:20]],
        "verified_30d": work["verified_30d"],
    }


class WorkerPatch(Schema):
    name: str | None = None
    phone: str | None = None
    skills: list[str] | None = None
    origin: str | None = None
    team: str | None = None
    unit: str | None = None


@router.patch(
    "/workers/{int:worker_id}",
    response={200: WorkerOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a worker's details",
)
def worker_patch(request, worker_id: int, body: WorkerPatch):
    w = selectors.worker_get(actor=request.post, worker_id=worker_id)
    services.worker_update(actor=request.post, worker=w, **body.dict())
    w.refresh_from_db()
    return _worker(selectors.worker_view(actor=request.post, worker=w))


class StatusIn(Schema):
    status: str = Field(description="active, on_leave or left")
    successor_id: int | None = Field(
        None, description="For left: who takes the places over (else the community keeps them)"
    )
    reason: str = ""


@router.post(
    "/workers/{int:worker_id}/status",
    response={200: WorkerOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="On leave, back at work, or left (every place handed over)",
)
def worker_status(request, worker_id: int, body: StatusIn):
    post = request.post
    w = selectors.worker_get(actor=post, worker_id=worker_id)
    successor = (
        selectors.worker_get(actor=post, worker_id=body.successor_id) if body.successor_id else None
    )
    w = services.worker_status_set(
        actor=post, worker=w, status=body.status, successor=successor, reason=body.reason
    )
    return _worker(selectors.worker_view(actor=post, worker=w))


# --- assignments --------------------------------------------------------------------------------
@router.get(
    "/workers/{int:worker_id}/assignments",
    response={200: list[AssignmentOut], 404: ErrorOut},
    summary="A worker's assignments, newest first (the history)",
)
def worker_assignments(request, worker_id: int):
    w = selectors.worker_get(actor=request.post, worker_id=worker_id)
    return [_assignment(a) for a in selectors.assignment_list(actor=request.post, worker=w)]


class AssignIn(Schema):
    worker_id: int
    place_code: str
    role: str = Field("", description="primary or helper (default: by the kind of worker)")


@router.post(
    "/assignments",
    response={201: AssignmentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Assign a worker to a grid or micro-grid",
)
def assignment_create(request, body: AssignIn):
    w = selectors.worker_get(actor=request.post, worker_id=body.worker_id)
    a = services.assignment_start(
        actor=request.post, worker=w, place_code=body.place_code, role=body.role or None
    )
    return 201, _assignment(a)


class EndIn(Schema):
    successor_id: int | None = Field(
        None, description="Who takes the place and its open work over (else the community)"
    )
    reason: str = ""


@router.post(
    "/assignments/{int:assignment_id}/end",
    response={200: HandoverOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="End an assignment and hand its open work over (a successor, or the community)",
)
def assignment_end(request, assignment_id: int, body: EndIn):
    post = request.post
    a = selectors.assignment_get(actor=post, assignment_id=assignment_id)
    successor = (
        selectors.worker_get(actor=post, worker_id=body.successor_id) if body.successor_id else None
    )
    h = services.assignment_end(actor=post, assignment=a, successor=successor, reason=body.reason)
    return _handover(h)


# --- teams and coverage -------------------------------------------------------------------------
class TeamPlaceOut(Schema):
    code: str
    name: str
    kind: str
    primary: WorkerOut | None
    helpers: list[WorkerOut]


class PartyOrgOut(Schema):
    id: int
    grid_code: str
    name: str
    secretary_id: int | None
    members: int


class TeamOut(Schema):
    code: str
    name: str
    primary: WorkerOut | None
    helpers: list[WorkerOut]
    micro_grids: list[TeamPlaceOut]
    party_org: PartyOrgOut | None
    on_duty: list[DutyOut]


@router.get(
    "/places/{code}/team",
    response={200: TeamOut, 404: ErrorOut},
    summary="A grid's (or micro-grid's) workers, its micro-grids' workers, party organisation",
)
def place_team(request, code: str):
    t = selectors.team(actor=request.post, code=code)
    org = t.party_org
    return {
        "code": t.place.code,
        "name": t.place.name,
        "primary": _worker(t.primary) if t.primary else None,
        "helpers": [_worker(v) for vs in t.helpers.values() for v in vs],
        "micro_grids": [
            {
                "code": c.code,
                "name": c.name,
                "kind": c.kind,
                "primary": _worker(c.primary) if c.primary else None,
                "helpers": [_worker(v) for v in c.helpers],
            }
            for c in t.children
        ],
        "party_org": {
            "id": org.pk,
            "grid_code": org.grid_code,
            "name": org.name,
            "secretary_id": org.secretary_id,
            "members": org.members,
        }
        if org
        else None,
        "on_duty": [_duty(s) for s in t.on_duty],
    }


class CoverageRowOut(Schema):
    code: str
    name: str
    grids: int
    grids_without: int
    micros: int
    micros_without: int
    cadres: int
    cadres_placed: int
    on_duty: int


class GapOut(Schema):
    code: str
    name: str
    kind: str


class OverloadOut(Schema):
    worker_id: int
    name: str
    kind: str
    load: int
    limit: int


class CoverageOut(Schema):
    code: str
    name: str
    total: CoverageRowOut
    children: list[CoverageRowOut]
    gaps: list[GapOut] = Field(description="Places without a primary worker (the first 500)")
    overloaded: list[OverloadOut]
    unplaced_cadres: list[dict]
    limits: dict[str, int]


def _row(r) -> dict:
    return {k: getattr(r, k) for k in CoverageRowOut.model_fields}


@router.get(
    "/coverage",
    response={200: CoverageOut, 404: ErrorOut},
    summary="Places without a primary worker, overloaded workers, cadres not yet placed",
)
def coverage(request, code: str = ""):
    c = selectors.coverage(actor=request.post, code=code)
    return {
        "code": c.code,
        "name": c.name,
        "total": _row(c.total),
        "children": [_row(r) for r in c.children],
        "gaps": [{"code": g.code, "name": g.name, "kind": g.kind} for g in c.gaps],
        "overloaded": [
            {
                "worker_id": o.worker.pk,
                "name": o.worker.name,
                "kind": o.worker.kind,
                "load": o.load,
                "limit": o.limit,
            }
            for o in c.overloaded
        ],
        "unplaced_cadres": [
            {"worker_id": w.pk, "name": w.name, "origin": w.origin, "place_code": w.place_code}
            for w in c.unplaced
        ],
        "limits": c.limits,
    }


@router.get(
    "/coverage/candidates",
    response={200: list[WorkerOut], 403: ErrorOut, 404: ErrorOut},
    summary="Who may become the primary worker of a place that lacks one",
)
def candidates(request, code: str):
    return [_worker(v) for v in selectors.assign_candidates(actor=request.post, code=code)]


# --- duty ---------------------------------------------------------------------------------------
class CheckInIn(Schema):
    lon: float | None = None
    lat: float | None = None
    accuracy: float | None = Field(None, description="Metres, as the phone reports it")
    key: str = Field("", description="Client key: a retried check-in returns the same session")


class PositionIn(Schema):
    lon: float | None = None
    lat: float | None = None
    accuracy: float | None = None


@router.post(
    "/duty/check-in",
    response={
        200: DutyOut,
        201: DutyOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Start duty on the active post's place (far from it: allowed, flagged)",
)
def check_in(request, body: CheckInIn):
    s, created = services.duty_check_in(
        actor=request.post, lon=body.lon, lat=body.lat, accuracy=body.accuracy, key=body.key
    )
    return (201 if created else 200), _duty(s)


@router.get(
    "/duty/current",
    response={200: DutyOut, 404: ErrorOut},
    summary="The acting worker's open duty session",
)
def duty_current(request):
    s = selectors.duty_current(actor=request.post)
    if s is None:
        raise NotFound(_("You are not on duty."), code="not_on_duty")
    return _duty(s)


@router.get(
    "/duty/{int:session_id}",
    response={200: DutyOut, 404: ErrorOut},
    summary="One duty session (one's own, or on a place in scope)",
)
def duty_detail(request, session_id: int):
    return _duty(selectors.duty_get(actor=request.post, session_id=session_id))


@router.post(
    "/duty/{int:session_id}/check-out",
    response={200: DutyOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="End one's duty session (again: answered with the session as it is)",
)
def check_out(request, session_id: int, body: PositionIn):
    s = selectors.duty_get(actor=request.post, session_id=session_id)
    s = services.duty_check_out(
        actor=request.post, session=s, lon=body.lon, lat=body.lat, accuracy=body.accuracy
    )
    return _duty(s)


class PointIn(Schema):
    at: datetime
    lon: float
    lat: float
    accuracy: float | None = None


class PatrolIn(Schema):
    key: str = Field(description="Client key of the batch: a retried batch is written once")
    points: list[PointIn]


class PatrolOut(Schema):
    batch_id: int
    session_id: int
    points: int = Field(description="Points kept")
    ignored: int = Field(description="Points outside the session's time or the city")
    session_points: int


@router.post(
    "/duty/{int:session_id}/patrol",
    response={
        200: PatrolOut,
        201: PatrolOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="A batch of patrol points (idempotent by the batch key)",
    url_name="workforce_patrol",
)
def patrol(request, session_id: int, body: PatrolIn):
    s = selectors.duty_get(actor=request.post, session_id=session_id)
    batch, created = services.patrol_record(
        actor=request.post, session=s, key=body.key, points=[p.dict() for p in body.points]
    )
    s.refresh_from_db()
    return (201 if created else 200), {
        "batch_id": batch.pk,
        "session_id": s.pk,
        "points": batch.points,
        "ignored": batch.ignored,
        "session_points": s.points,
    }


@router.get(
    "/duty/{int:session_id}/trace.geojson",
    response={200: dict, 404: ErrorOut},
    summary="The session's route, check-in/out points and the place's outline (GeoJSON)",
    url_name="workforce_trace",
)
def duty_trace(request, session_id: int):
    s = selectors.duty_get(actor=request.post, session_id=session_id)
    return selectors.duty_trace(actor=request.post, session=s)


class OnDutyOut(Schema):
    code: str
    on_duty: int
    children: dict[str, int]


@router.get(
    "/on-duty",
    response={200: OnDutyOut, 404: ErrorOut},
    summary="Workers on duty now under a place, and under each of its children",
)
def on_duty(request, code: str = ""):
    post = request.post
    code = code or (scope_for(post).root or "")
    return {
        "code": code,
        "on_duty": selectors.on_duty_count(actor=post, code=code),
        "children": selectors.on_duty_by_child(actor=post, code=code),
    }


# --- party organisations and units --------------------------------------------------------------
@router.get("/party-orgs", response=list[PartyOrgOut], summary="Grid party organisations")
@paginate(PageNumberPagination, page_size=100)
def party_orgs(request, code: str = ""):
    return list(
        {
            "id": o.pk,
            "grid_code": o.grid_code,
            "name": o.name,
            "secretary_id": o.secretary_id,
            "members": o.members,
        }
        for o in selectors.party_org_list(actor=request.post, code=code)
    )


class PartyOrgIn(Schema):
    grid_code: str
    name: str
    secretary_id: int | None = None
    members: int = 0


@router.post(
    "/party-orgs",
    response={200: PartyOrgOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Record a grid's party organisation and its secretary",
)
def party_org_save(request, body: PartyOrgIn):
    post = request.post
    secretary = (
        selectors.worker_get(actor=post, worker_id=body.secretary_id) if body.secretary_id else None
    )
    o = services.party_org_save(
        actor=post,
        grid_code=body.grid_code,
        name=body.name,
        secretary=secretary,
        members=body.members,
    )
    return {
        "id": o.pk,
        "grid_code": o.grid_code,
        "name": o.name,
        "secretary_id": o.secretary_id,
        "members": o.members,
    }


class UnitOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    region_code: str


class UnitCategoryOut(Schema):
    code: str
    name: str
    how: str = Field(description="rule: a dispatch rule names the unit; kind: the default unit")
    region_code: str


class HandlerOut(Schema):
    post_id: int
    name: str
    place_code: str


class UnitDetailOut(UnitOut):
    categories: list[UnitCategoryOut]
    any_category_regions: list[str]
    handlers: list[HandlerOut]


def _unit(u) -> dict:
    return {k: getattr(u, k) for k in ("code", "name", "kind", "region_code")} | {"id": u.pk}


@router.get("/units", response=list[UnitOut], summary="Handling units serving the area")
def unit_list(request):
    return [_unit(u) for u in selectors.unit_list(actor=request.post)]


@router.get(
    "/units/{int:unit_id}",
    response={200: UnitDetailOut, 404: ErrorOut},
    summary="A unit, the event categories it handles and its handlers",
)
def unit_detail(request, unit_id: int):
    d = selectors.unit_detail(actor=request.post, unit_id=unit_id)
    return {
        **_unit(d.unit),
        "categories": [c.__dict__ for c in d.categories],
        "any_category_regions": d.any_category_regions,
        "handlers": [
            {
                "post_id": p.pk,
                "name": p.user.get_full_name() or p.user.username,
                "place_code": p.place_code,
            }
            for p in d.handlers
        ],
    }


# --- roster import --------------------------------------------------------------------------------
class ImportOut(Schema):
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: int
    error_rows: list[dict] = Field(description="The first errors (row, column, reason), masked")


MAX_IMPORT_BYTES = 10 * 1024 * 1024


@router.post(
    "/import",
    response={200: ImportOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Import a roster (CSV or XLSX): mode all (all or nothing) or good (good rows)",
)
def import_roster(request, file: File[UploadedFile], mode: Form[str] = "all"):
    if file.size and file.size > MAX_IMPORT_BYTES:
        raise ValidationError(
            _("The file is larger than %(mb)d MB; split it into several files.")
            % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)},
            code="too_large",
        )
    suffix, problem = uploads.check_upload(UPLOAD, file, max_unpacked=20 * MAX_IMPORT_BYTES)
    if problem:
        raise ValidationError(problem, code="bad_file")
    path, _errors = uploads.new_paths(UPLOAD, suffix)
    uploads.save_upload(file, path)
    try:
        if suffix == ".xlsx" and (problem := uploads.xlsx_header_problem(UPLOAD, path)):
            raise ValidationError(problem, code="bad_file")
        try:
            result = roster_import(actor=request.post, path=Path(path), mode=mode)
        except ValidationError as exc:
            if isinstance(exc.details, list):
                exc.details = uploads.error_rows(UPLOAD, exc.details)
            raise
    finally:
        path.unlink(missing_ok=True)
    return {**result.as_dict(), "error_rows": uploads.error_rows(UPLOAD, result.errors)}
