"""Writes of the roster: registering a worker (with a user account), changing their details and
status, volunteer teams and the grids' party organisations. Each takes the acting post first,
checks its permission and scope, runs in one transaction and is audited (phones masked)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.models import Unit
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import NotFound, ValidationError
from wangge.core.masking import mask_phone
from wangge.people.crypto import Field, get_keyring, normalize_phone
from wangge.regions import codes as C
from wangge.regions.models import Grid, Region
from wangge.workforce.enums import LIAISON_KINDS, Skill, WorkerKind, WorkerStatus
from wangge.workforce.models import PartyOrganisation, VolunteerTeam, Worker


# --- checks shared by the services ------------------------------------------------------------
def phone_digits(phone: str) -> str:
    """The phone's digits (``+86 138-1234-5678`` → ``13812345678``); 7 to 12 of them."""
    digits = normalize_phone(phone or "")
    if not (digits.isdigit() and 7 <= len(digits) <= 12):
        raise ValidationError(
            _("A phone number has 7 to 12 digits."),
            code="invalid_phone",
            details={"fields": {"phone": _("7 to 12 digits")}},
        )
    return digits


def phone_sealed(digits: str) -> tuple[str, str]:
    """(encrypted token, blind index) of a phone, as residents' phones are stored."""
    keys = get_keyring()
    return keys.encrypt(digits, field=Field.PHONE), keys.blind_index(digits, field=Field.PHONE)


def place_exists(code: str) -> bool:
    model = Grid if len(code) >= 15 else Region
    return model.objects.filter(code=code).exists()


def check_place(actor, code: str) -> str:
    """The normalised code of a place in the actor's scope; ``NotFound`` otherwise (a place
    outside the scope and a place that does not exist answer the same)."""
    code = C.normalize(code or "")
    scope = scope_for(actor)
    scope.check(code)
    if not C.is_valid(code) or not place_exists(code):
        # the same answer as outside the scope
        raise NotFound(_("No place has the code %(code)s.") % {"code": code})
    return code


def worker_in_scope(actor, worker: Worker) -> bool:
    """Whether the post sees the worker: registered under its scope, or assigned there now."""
    scope = scope_for(actor)
    if scope.covers(worker.place_code):
        return True
    return any(
        scope.covers(code)
        for code in worker.assignments.filter(ended_at__isnull=True).values_list(
            "place_code", flat=True
        )
    )


def check_worker(actor, worker: Worker) -> None:
    if not worker_in_scope(actor, worker):
        raise NotFound(_("No such worker."))  # as for a worker that does not exist


def clean_skills(skills: Iterable[str] | None) -> list[str]:
    out = []
    for s in skills or ():
        s = (s or "").strip()
        if not s:
            continue
        try:
            out.append(Skill(s).value)
        except ValueError:
            raise ValidationError(
                _("Unknown skill %(skill)s.") % {"skill": s},
                code="invalid_skill",
                details={"fields": {"skills": _("unknown skill")}},
            ) from None
    return sorted(set(out))


def _kind(kind: str) -> WorkerKind:
    try:
        return WorkerKind(kind)
    except ValueError:
        raise ValidationError(
            _("Unknown kind of worker %(kind)s.") % {"kind": kind},
            code="invalid_kind",
            details={"fields": {"kind": _("unknown kind")}},
        ) from None


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError(
            _("A name is required."), code="invalid_name", details={"fields": {"name": "*"}}
        )
    return name[:50]


def team_for(*, place_code: str, name: str) -> VolunteerTeam | None:
    """The volunteer team of that name at the place, created on first use."""
    name = (name or "").strip()[:100]
    if not name:
        return None
    team, _created = VolunteerTeam.objects.get_or_create(place_code=place_code, name=name)
    return team


def unit_for(code: str) -> Unit | None:
    code = (code or "").strip()
    if not code:
        return None
    unit = Unit.objects.filter(code=code, is_active=True).first()
    if unit is None:
        raise ValidationError(
            _("Unknown unit %(unit)s.") % {"unit": code},
            code="invalid_unit",
            details={"fields": {"unit": _("unknown unit")}},
        )
    return unit


def new_username(prefix: str = "w") -> str:
    User = get_user_model()
    while True:
        name = f"{prefix}-{secrets.token_hex(4)}"
        if not User.objects.filter(username=name).exists():
            return name


# --- workers ----------------------------------------------------------------------------------
@transaction.atomic
def worker_register(
    *,
    actor,
    name: str,
    kind: str,
    phone: str,
    place_code: str,
    skills: Iterable[str] | None = None,
    origin: str = "",
    team: str = "",
    unit: str = "",
    user=None,
) -> Worker:
    """A new worker registered at a place of the actor's scope (a community, or the street or
    district receiving a sunk cadre; a grid's worker is registered at its community). A user
    account without a password is made for them unless ``user`` is given (an account that is
    not yet a worker); the security administrator sets the password. The phone identifies the
    person: a second worker with the same phone is refused."""
    require(actor, Perm.WORKFORCE_MANAGE)
    code = check_place(actor, place_code)
    if len(code) >= 15:
        code = code[:12]  # registered at the grid's community
    kind = _kind(kind)
    name = _name(name)
    digits = phone_digits(phone)
    phone_enc, phone_index = phone_sealed(digits)
    fields = {
        "name": name,
        "kind": kind,
        "place_code": code,
        "phone_enc": phone_enc,
        "phone_index": phone_index,
        "skills": clean_skills(skills),
        "origin": (origin or "").strip()[:100] if kind == WorkerKind.CADRE else "",
        "team": team_for(place_code=code, name=team) if kind == WorkerKind.VOLUNTEER else None,
        "unit": unit_for(unit) if kind in LIAISON_KINDS else None,
        "status_changed_at": timezone.now(),
    }
    if user is None:
        user = get_user_model()(username=new_username(), first_name=name[:150])
        user.set_unusable_password()
        user.save()
    elif Worker.objects.filter(user=user).exists():
        raise ValidationError(_("This account already belongs to a worker."), code="user_taken")
    try:
        with transaction.atomic():
            worker = Worker.objects.create(user=user, **fields)
    except IntegrityError:
        raise ValidationError(
            _("A worker with this phone number is already registered."),
            code="duplicate_phone",
            details={"fields": {"phone": _("already registered")}},
        ) from None
    audit.record(
        actor=actor,
        action="workforce.register",
        obj=worker,
        details={
            "kind": kind.value,
            "place": code,
            "username": user.username,
            "phone": mask_phone(digits),
        },
    )
    return worker


@transaction.atomic
def worker_update(
    *,
    actor,
    worker: Worker,
    name: str | None = None,
    phone: str | None = None,
    skills: Iterable[str] | None = None,
    origin: str | None = None,
    team: str | None = None,
    unit: str | None = None,
) -> list[str]:
    """Change a worker's details; the names of the fields that really changed."""
    require(actor, Perm.WORKFORCE_MANAGE)
    check_worker(actor, worker)
    worker = Worker.objects.select_for_update().get(pk=worker.pk)
    changed: dict = {}
    if name is not None and _name(name) != worker.name:
        changed["name"] = _name(name)
    if phone is not None:
        digits = phone_digits(phone)
        enc, index = phone_sealed(digits)
        if index != worker.phone_index:
            if Worker.objects.filter(phone_index=index).exclude(pk=worker.pk).exists():
                raise ValidationError(
                    _("A worker with this phone number is already registered."),
                    code="duplicate_phone",
                    details={"fields": {"phone": _("already registered")}},
                )
            changed.update(phone_enc=enc, phone_index=index)
    if skills is not None and clean_skills(skills) != worker.skills:
        changed["skills"] = clean_skills(skills)
    if origin is not None and worker.kind == WorkerKind.CADRE:
        if origin.strip()[:100] != worker.origin:
            changed["origin"] = origin.strip()[:100]
    if team is not None and worker.kind == WorkerKind.VOLUNTEER:
        t = team_for(place_code=worker.place_code, name=team)
        if (t.pk if t else None) != worker.team_id:
            changed["team"] = t
    if unit is not None and worker.kind in LIAISON_KINDS:
        u = unit_for(unit)
        if (u.pk if u else None) != worker.unit_id:
            changed["unit"] = u
    if changed:
        for k, v in changed.items():
            setattr(worker, k, v)
        worker.save()
        shown = sorted({"phone" if k.startswith("phone") else k for k in changed})
        audit.record(actor=actor, action="workforce.update", obj=worker, details={"fields": shown})
        return shown
    return []


@transaction.atomic
def worker_status_set(
    *, actor, worker: Worker, status: str, successor: Worker | None = None, reason: str = ""
) -> Worker:
    """On leave, back, or left. A worker who leaves ends every assignment: each place's open
    work goes to ``successor`` (for the places where they may take it over) or else to the
    community — see ``assignment_end``."""
    from wangge.workforce.services.assignments import assignment_end

    require(actor, Perm.WORKFORCE_MANAGE)
    check_worker(actor, worker)
    try:
        status = WorkerStatus(status)
    except ValueError:
        raise ValidationError(_("Unknown status %(s)s.") % {"s": status}) from None
    worker = Worker.objects.select_for_update().get(pk=worker.pk)
    old = worker.status
    if old == status:
        return worker
    if old == WorkerStatus.LEFT:
        raise ValidationError(
            _("A worker who has left is registered again, not brought back."),
            code="worker_left",
        )
    if status == WorkerStatus.LEFT:
        for a in worker.assignments.filter(ended_at__isnull=True).order_by("id"):
            assignment_end(
                actor=actor,
                assignment=a,
                successor=successor,
                reason=reason or str(_("left")),
            )
    worker.status = status
    worker.status_changed_at = timezone.now()
    worker.save(update_fields=["status", "status_changed_at", "updated_at"])
    audit.record(
        actor=actor,
        action="workforce.status",
        obj=worker,
        details={"old": old, "new": status.value, "reason": reason},
    )
    return worker


# --- party organisations ------------------------------------------------------------------------
@transaction.atomic
def party_org_save(
    *,
    actor,
    grid_code: str,
    name: str,
    secretary: Worker | None = None,
    members: int = 0,
) -> PartyOrganisation:
    """Record (or change) the party organisation of a grid and its secretary."""
    require(actor, Perm.WORKFORCE_MANAGE)
    code = check_place(actor, grid_code)
    if len(code) < 15:
        raise ValidationError(
            _("A party organisation is recorded for a grid or a micro-grid."), code="not_a_grid"
        )
    name = (name or "").strip()[:100]
    if not name:
        raise ValidationError(_("A name is required."), code="invalid_name")
    if secretary is not None:
        check_worker(actor, secretary)
    if int(members) < 0:
        raise ValidationError(_("The number of members cannot be negative."))
    org, created = PartyOrganisation.objects.update_or_create(
        grid_code=code,
        defaults={"name": name, "secretary": secretary, "members": int(members)},
    )
    audit.record(
        actor=actor,
        action="workforce.party_org",
        obj=org,
        details={
            "grid": code,
            "name": name,
            "secretary": secretary.pk if secretary else None,
            "created": created,
        },
    )
    return org
