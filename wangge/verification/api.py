"""REST API of door-to-door verification: rounds, households on site, coverage, discrepancies."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Field, Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from wangge.core.paging import MappedPage
from wangge.people.api import ResidentOut, _out
from wangge.verification import selectors, services
from wangge.verification.enums import MemberAction
from wangge.verification.services import MemberCheck, NewMember

router = Router(tags=["verification"])


class ErrorOut(Schema):
    error: dict


class RoundOut(Schema):
    id: int
    place_code: str
    cycle: str
    state: str
    due_date: date | None
    tasks_total: int
    tasks_done: int = 0
    created_at: datetime
    closed_at: datetime | None
    close_note: str


class RoundIn(Schema):
    code: str = Field(
        description="A grid or micro-grid code (one round), or a community/street "
        "code (one round for each grid under it)"
    )
    cycle: str = Field(description="The cycle, e.g. 2026; one round per place and cycle")
    due_date: date | None = None


class CloseIn(Schema):
    note: str = ""


class TaskOut(Schema):
    id: int
    round_id: int
    house_id: int
    address: str
    grid_code: str
    state: str
    outcome: str
    done_at: datetime | None
    note: str


class ChangeOut(Schema):
    id: int
    task_id: int
    grid_code: str
    kind: str
    field: str
    old_value: str
    new_value: str
    resident_id: int | None
    changed_at: datetime


class TaskDetailOut(TaskOut):
    house_use: str
    members: list[ResidentOut]
    changes: list[ChangeOut]


class MemberIn(Schema):
    resident_id: int
    action: MemberAction = MemberAction.CONFIRM
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="For action=correct: name, id_number, phone, registration, relation",
    )


class NewMemberIn(Schema):
    name: str
    id_number: str = ""
    phone: str = ""
    registration: str = "household"
    relation: str = "relative"


class VerifyIn(Schema):
    members: list[MemberIn] = Field(default_factory=list)
    house_use: str = ""
    vacant: bool = False
    new_members: list[NewMemberIn] = Field(default_factory=list)
    note: str = ""
    key: str = Field(
        "",
        description="Idempotency key (or the Idempotency-Key header): a retry is answered "
        "with the task and writes nothing",
    )


class CoverageRowOut(Schema):
    code: str
    name: str
    households: int
    in_rounds: int
    verified: int
    corrected: int
    vacant: int
    percent: float


class CoverageOut(Schema):
    cycle: str
    cycles: list[str]
    total: CoverageRowOut
    children: list[CoverageRowOut]


def _round(r) -> dict:
    return {
        **{k: getattr(r, k) for k in RoundOut.model_fields if k != "tasks_done"},
        "tasks_done": getattr(r, "tasks_done", r.tasks.filter(state="done").count()),
    }


def _task(t) -> dict:
    return {
        "id": t.pk,
        "round_id": t.round_id,
        "house_id": t.house_id,
        "address": str(t.house),
        "grid_code": t.grid_code,
        "state": t.state,
        "outcome": t.outcome,
        "done_at": t.done_at,
        "note": t.note,
    }


def _row(r) -> dict:
    return {**{k: getattr(r, k) for k in CoverageRowOut.model_fields}}


@router.get("/rounds", response=list[RoundOut], summary="Rounds in scope, newest first")
@paginate(PageNumberPagination, page_size=50)
def round_list(request, code: str = "", cycle: str = "", state: str = ""):
    return selectors.round_list(
        actor=request.post, filters={"code": code, "cycle": cycle, "state": state}
    )


@router.post(
    "/rounds",
    response={200: list[RoundOut], 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Create rounds (idempotent per place and cycle)",
)
def round_create(request, body: RoundIn):
    code = body.code.replace(" ", "")
    if len(code) >= 15:
        made = [
            services.round_create(
                actor=request.post, code=code, cycle=body.cycle, due_date=body.due_date
            )
        ]
    else:
        made = services.rounds_create_for(
            actor=request.post, code=code, cycle=body.cycle, due_date=body.due_date
        )
    return [_round(selectors.round_get(actor=request.post, round_id=r.pk)) for r in made]


@router.get("/rounds/{round_id}", response={200: RoundOut, 404: ErrorOut})
def round_detail(request, round_id: int):
    return _round(selectors.round_get(actor=request.post, round_id=round_id))


@router.post(
    "/rounds/{round_id}/close",
    response={200: RoundOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Close a round (a note is needed while households are not verified)",
)
def round_close(request, round_id: int, body: CloseIn):
    rnd = selectors.round_get(actor=request.post, round_id=round_id)
    services.round_close(actor=request.post, rnd=rnd, note=body.note)
    return _round(selectors.round_get(actor=request.post, round_id=round_id))


@router.get(
    "/rounds/{round_id}/tasks",
    response=list[TaskOut],
    summary="The households of a round in walking order",
)
@paginate(PageNumberPagination, page_size=100)
def task_list(request, round_id: int, state: str = ""):
    rnd = selectors.round_get(actor=request.post, round_id=round_id)
    return MappedPage(
        selectors.task_list(actor=request.post, rnd=rnd, state=state),
        lambda rows: [_task(t) for t in rows],
    )


def _task_detail(post, task) -> dict:
    return {
        **_task(task),
        "house_use": task.house.use,
        "members": [_out(v) for v in selectors.task_members(actor=post, task=task)],
        "changes": [
            {k: getattr(c, k) for k in ChangeOut.model_fields}
            for c in selectors.task_changes(actor=post, task=task)
        ],
    }


@router.get(
    "/tasks/{task_id}",
    response={200: TaskDetailOut, 404: ErrorOut},
    summary="One household: its members (masked) and what its visit changed",
)
def task_detail(request, task_id: int):
    task = selectors.task_get(actor=request.post, task_id=task_id)
    return _task_detail(request.post, task)


@router.post(
    "/tasks/{task_id}/verify",
    response={200: TaskDetailOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Record the visit of a household (all or nothing; idempotent with a key)",
)
def task_verify(request, task_id: int, body: VerifyIn):
    task = selectors.task_get(actor=request.post, task_id=task_id)
    services.household_verify(
        actor=request.post,
        task=task,
        members=[MemberCheck(m.resident_id, m.action, m.fields) for m in body.members],
        house_use=body.house_use,
        vacant=body.vacant,
        new_members=[NewMember(**m.dict()) for m in body.new_members],
        note=body.note,
        key=request.headers.get("Idempotency-Key", "") or body.key,
        request=request,
    )
    return _task_detail(request.post, selectors.task_get(actor=request.post, task_id=task_id))


@router.get(
    "/coverage",
    response={200: CoverageOut, 404: ErrorOut},
    summary="Coverage of a node and its children in a cycle (default: the newest)",
)
def coverage(request, code: str, cycle: str = ""):
    cov = selectors.coverage(actor=request.post, code=code, cycle=cycle)
    return {
        "cycle": cov.cycle,
        "cycles": cov.cycles,
        "total": _row(cov.total),
        "children": [_row(r) for r in cov.children],
    }


@router.get(
    "/changes",
    response=list[ChangeOut],
    summary="The discrepancy report: field changes under a node (personal values masked)",
)
@paginate(PageNumberPagination, page_size=100)
def change_list(request, code: str, cycle: str = "", kind: str = ""):
    return selectors.change_list(actor=request.post, code=code, cycle=cycle, kind=kind)
