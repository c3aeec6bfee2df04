"""Writes of door-to-door verification: rounds, household checks on site, closing rounds.

Every write takes the acting post first, checks permission and scope, runs in one transaction
and is audited. Corrections of a resident go through the people services (validated,
encrypted, audited there) and are recorded here field by field, personal values masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import Conflict, ValidationError
from wangge.people import services as people
from wangge.people.crypto import Field, get_keyring
from wangge.people.enums import HouseUse, Registration, Relation
from wangge.people.idcard import validate_id_number
from wangge.people.models import House, Resident
from wangge.regions import codes as C
from wangge.regions.enums import GridKind
from wangge.regions.models import Grid
from wangge.verification.enums import (
    CORRECTABLE,
    ChangeKind,
    MemberAction,
    RoundState,
    TaskOutcome,
    TaskState,
)
from wangge.verification.models import FieldChange, Round, Task


def _clean_cycle(cycle: str) -> str:
    cycle = (cycle or "").strip()
    if not cycle or len(cycle) > 20:
        raise ValidationError(
            _("Name the cycle (e.g. 2026), at most 20 characters."), code="invalid_cycle"
        )
    return cycle


def _overlapping(code: str, cycle: str):
    """Rounds of the same cycle on the place, an ancestor or a descendant of it."""
    from django.db.models import Q

    q = Q(place_code__in=[code, *C.ancestor_codes(code)]) | Q(**C.prefix_filter(code, "place_code"))
    return Round.objects.filter(q, cycle=cycle)


@transaction.atomic
def round_create(*, actor, code: str, cycle: str, due_date: date | None = None) -> Round:
    """A verification round for one grid or micro-grid: every household under it becomes a
    task. Asking again for the same place and cycle returns the existing round (a retried
    request creates nothing); a round of the same cycle on an enclosing or enclosed place is
    refused, so no household is visited twice in one cycle."""
    require(actor, Perm.PEOPLE_EDIT)
    code = C.normalize(code or "")
    cycle = _clean_cycle(cycle)
    scope_for(actor).check(code)
    grid = Grid.objects.filter(code=code).only("code", "kind").first()
    if grid is None:
        raise ValidationError(
            _("A round is made for a grid or a micro-grid; %(code)s is neither.") % {"code": code},
            code="not_a_grid",
        )
    existing = list(_overlapping(code, cycle).select_for_update())
    for r in existing:
        if r.place_code == code:
            return r
    if existing:
        raise ValidationError(
            _(
                "Place %(other)s already has a round of cycle %(cycle)s that covers these "
                "households."
            )
            % {"other": existing[0].place_code, "cycle": cycle},
            code="round_overlaps",
        )
    houses = House.objects.filter(**C.prefix_filter(code, "grid_code"))
    if not houses.exists():
        raise ValidationError(
            _("No households are on record under %(code)s: there is nothing to verify.")
            % {"code": code},
            code="no_households",
        )
    rnd = Round.objects.create(
        place_code=code, cycle=cycle, due_date=due_date, created_by=_post(actor)
    )
    tasks = [
        Task(round=rnd, house_id=h, grid_code=g)
        for h, g in houses.values_list("id", "grid_code").iterator(chunk_size=5000)
    ]
    Task.objects.bulk_create(tasks, batch_size=2000)
    rnd.tasks_total = len(tasks)
    rnd.save(update_fields=["tasks_total"])
    audit.record(
        actor=actor,
        action="verification.round_create",
        obj=rnd,
        details={"place": code, "cycle": cycle, "households": len(tasks)},
    )
    return rnd


def rounds_create_for(*, actor, code: str, cycle: str, due_date: date | None = None) -> list[Round]:
    """One round per general or exclusive grid under a street or community (or the grid
    itself); grids already covered in this cycle are skipped. Each round is its own
    transaction, so a retry after a failure picks up where it stopped."""
    require(actor, Perm.PEOPLE_EDIT)
    code = C.normalize(code or "")
    cycle = _clean_cycle(cycle)
    scope_for(actor).check(code)
    grids = (
        Grid.objects.filter(**C.prefix_filter(code, "code"))
        .exclude(kind=GridKind.MICRO)
        .order_by("code")
        .values_list("code", flat=True)
    )
    made = []
    for g in grids:
        if _overlapping(g, cycle).exclude(place_code=g).exists():
            continue
        if not House.objects.filter(**C.prefix_filter(g, "grid_code")).exists():
            continue  # exclusive grids (schools, markets …) often have no households
        made.append(round_create(actor=actor, code=g, cycle=cycle, due_date=due_date))
    return made


@transaction.atomic
def round_close(*, actor, rnd: Round, note: str = "") -> Round:
    """Close a round. Households not visited stay unverified (coverage shows the gap); closing
    with any of them needs a note saying why."""
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(rnd.place_code)
    rnd = Round.objects.select_for_update().get(pk=rnd.pk)
    if rnd.state == RoundState.CLOSED:
        return rnd
    pending = rnd.tasks.filter(state=TaskState.PENDING).count()
    note = (note or "").strip()
    if pending and len(note) < 4:
        raise ValidationError(
            _("%(n)d households are not verified yet: say why the round closes now.")
            % {"n": pending},
            code="note_required",
        )
    _close(rnd, actor, note)
    return rnd


def _close(rnd: Round, actor, note: str) -> None:
    rnd.state = RoundState.CLOSED
    rnd.closed_at = timezone.now()
    rnd.closed_by = _post(actor)
    rnd.close_note = note[:300]
    rnd.save(update_fields=["state", "closed_at", "closed_by", "close_note"])
    audit.record(
        actor=actor,
        action="verification.round_close",
        obj=rnd,
        details={
            "place": rnd.place_code,
            "cycle": rnd.cycle,
            "pending": rnd.tasks.filter(state=TaskState.PENDING).count(),
            "note": note,
        },
    )


def _post(actor):
    return actor if getattr(actor, "pk", None) else None


# --- one household on site ----------------------------------------------------------------------
@dataclass
class MemberCheck:
    """What the worker found for one current member of the household."""

    resident_id: int
    action: str = MemberAction.CONFIRM
    fields: dict[str, str] = field(default_factory=dict)  # for ``correct``: field → new value


@dataclass
class NewMember:
    """Someone living in the house who is not on record."""

    name: str
    id_number: str = ""
    phone: str = ""
    registration: str = Registration.HOUSEHOLD
    relation: str = Relation.RELATIVE


def household_verify(
    *,
    actor,
    task: Task,
    members: list[MemberCheck],
    house_use: str = "",
    vacant: bool = False,
    new_members: list[NewMember] | None = None,
    note: str = "",
    key: str = "",
    request=None,
) -> Task:
    """Record the visit of one household: every current member confirmed, corrected or moved
    out (or the house vacant), new members registered, the house's use corrected. All of it or
    nothing. A retry carrying the same ``key`` as the submission that completed the task returns
    the task and writes nothing; any other submission for a verified task is a conflict."""
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(task.grid_code)
    key = (key or "")[:64]
    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("round", "house").get(pk=task.pk)
        if task.state == TaskState.DONE:
            if key and key == task.submission_key:
                return task
            raise Conflict(
                _("This household was already verified on %(when)s.")
                % {"when": timezone.localtime(task.done_at).strftime("%Y-%m-%d %H:%M")},
                code="already_verified",
            )
        if task.round.state != RoundState.OPEN:
            raise Conflict(_("This round is closed."), code="round_closed")
        _check_household(actor, task, members, house_use, vacant, new_members or [], note, key)
        from wangge.points.hooks import on_household_verified  # points subscribe to this fact

        on_household_verified(task, task.done_at)
        if task.round.tasks.filter(state=TaskState.PENDING).count() == 0:
            _close(task.round, actor, _("All households verified."))
    audit.record(
        actor=actor,
        action="verification.household",
        obj=task,
        request=request,
        details={
            "round": task.round_id,
            "house": task.house_id,
            "outcome": task.outcome,
            "changes": task.changes.count(),
        },
    )
    return task


def _check_household(actor, task, members, house_use, vacant, new_members, note, key) -> None:
    house: House = task.house
    current = {
        r.pk: r
        for r in Resident.objects.select_for_update().filter(
            house_id=house.pk, moved_out__isnull=True
        )
    }
    by_id: dict[int, MemberCheck] = {}
    for m in members:
        try:
            rid = int(m.resident_id)
        except (TypeError, ValueError):
            raise ValidationError(_("Unknown member %(id)s.") % {"id": m.resident_id}) from None
        if rid not in current:
            raise ValidationError(
                _("Resident %(id)s is not a member of this household.") % {"id": rid},
                code="not_a_member",
            )
        try:
            MemberAction(m.action)
        except ValueError:
            raise ValidationError(
                _("Unknown action %(action)s.") % {"action": m.action}, code="invalid_action"
            ) from None
        by_id[rid] = m
    if vacant:
        if new_members:
            raise ValidationError(
                _("A vacant house has no new members."), code="vacant_with_members"
            )
        for rid in current:
            by_id.setdefault(rid, MemberCheck(rid, MemberAction.MOVED_OUT))
            if by_id[rid].action != MemberAction.MOVED_OUT:
                raise ValidationError(
                    _("In a vacant house every member has moved out."), code="vacant_with_members"
                )
    missing = [rid for rid in current if rid not in by_id]
    if missing:
        raise ValidationError(
            _("Say for every member whether they live here: %(n)d not answered.")
            % {"n": len(missing)},
            code="members_unanswered",
            details={"residents": missing},
        )
    today = timezone.localdate()
    changes: list[FieldChange] = []

    def change(kind, fld, old, new, resident=None):
        changes.append(
            FieldChange(
                task=task,
                grid_code=task.grid_code,
                kind=kind,
                house=house,
                resident=resident,
                field=fld,
                old_value=str(old)[:200],
                new_value=str(new)[:200],
                changed_by=_post(actor),
            )
        )

    # validate new members first, so nothing is written when one is bad
    prepared = [_prepare_new(actor, house, nm) for nm in new_members]
    for rid, m in by_id.items():
        r = current[rid]
        if m.action == MemberAction.CORRECT:
            unknown = set(m.fields) - set(CORRECTABLE)
            if unknown:
                raise ValidationError(
                    _("Unknown field %(field)s.") % {"field": sorted(unknown)[0]},
                    code="invalid_field",
                )
            wanted = {k: v for k, v in m.fields.items() if (v or "").strip()}
            for fld, old, new in people.resident_correct(actor=actor, resident=r, changes=wanted):
                change(ChangeKind.CORRECTED, fld, old, new, r)
        elif m.action == MemberAction.MOVED_OUT:
            people.resident_move_out(actor=actor, resident=r, on=today)
            change(ChangeKind.MOVED_OUT, "moved_out", "", today.isoformat(), r)
    for nm, existing in prepared:
        if existing is not None:
            people.resident_move_in(actor=actor, resident=existing, house=house, on=today)
            r = existing
        else:
            r = people.resident_register(
                actor=actor,
                house=house,
                name=nm.name,
                id_number=nm.id_number,
                phone=nm.phone,
                registration=nm.registration,
                relation=nm.relation,
                moved_in=today,
            )
        change(ChangeKind.ADDED, "resident", "", people._masked("name", r.name), r)
    use = HouseUse.VACANT if vacant else (house_use or "")
    if use:
        diff = people.house_use_set(actor=actor, house=house, use=use)
        if diff:
            change(ChangeKind.HOUSE, "use", *diff)
    FieldChange.objects.bulk_create(changes)
    task.state = TaskState.DONE
    task.outcome = (
        TaskOutcome.VACANT
        if vacant
        else (TaskOutcome.CORRECTED if changes else TaskOutcome.CONFIRMED)
    )
    task.done_by = _post(actor)
    task.done_at = timezone.now()
    task.note = (note or "").strip()[:300]
    task.submission_key = key
    task.save(update_fields=["state", "outcome", "done_by", "done_at", "note", "submission_key"])


def _prepare_new(actor, house: House, nm: NewMember):
    """Validate a new member; returns it with the existing record when the person is already
    registered elsewhere in the actor's scope (they move in), else with None."""
    name = (nm.name or "").strip()
    if not name:
        raise ValidationError(_("A name is required."), code="invalid_name")
    try:
        Registration(nm.registration)
        Relation(nm.relation)
    except ValueError:
        raise ValidationError(
            _("Unknown registration or relation."), code="invalid_choice"
        ) from None
    if not nm.id_number:
        return nm, None
    info = validate_id_number(nm.id_number)
    index = get_keyring().blind_index(info.number, field=Field.ID_NUMBER)
    existing = Resident.objects.filter(id_number_index=index).first()
    if existing is None:
        return nm, None
    if existing.house_id == house.pk and existing.moved_out is None:
        raise ValidationError(
            _("This person is already a member of the household."), code="already_member"
        )
    if not scope_for(actor).covers(existing.grid_code):
        raise ValidationError(
            _(
                "This person is registered in another area; ask the community to transfer the "
                "record."
            ),
            code="registered_elsewhere",
        )
    return nm, existing
