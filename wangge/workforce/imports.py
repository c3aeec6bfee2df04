"""Import of a roster of grid workers (CSV or XLSX), one row per worker and place.

Columns (Chinese headers are accepted too)::

    name, kind, phone, place_code, role, origin, team, unit, skills, username

``place_code`` is a grid or micro-grid (the worker is registered at its community and assigned
there: the primary worker where the kind is the place's primary kind, unless ``role`` says
helper), a community for a liaison (assigned there), or a community, street or district where
the worker is registered without a place yet (a sunk cadre waiting to be placed, a new worker).
The phone identifies the worker: a row whose phone is on the roster updates that worker (name,
and skills, origin, team, unit where the row gives them: an empty cell changes nothing) and adds
the assignment if it is new, so importing a file again changes nothing. The row-error machinery
and the two modes are those of the people import (``wangge.core.imports``): ``all`` writes
nothing if a row is bad; ``good`` writes the good rows and an error file with the bad ones.
Rows are written through the services (each registration, assignment and change audited as if
made by hand) in one transaction (``all``) or one per row (``good``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.models import Unit
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import imports as core_imports
from wangge.core import uploads
from wangge.core.errors import ValidationError
from wangge.core.imports import ImportResult, RowError, choice_labels
from wangge.people.crypto import Field, get_keyring
from wangge.regions import codes as C
from wangge.regions.enums import Level
from wangge.workforce.enums import LIAISON_KINDS, AssignmentRole, Skill, WorkerKind, WorkerStatus
from wangge.workforce.models import Assignment, Worker
from wangge.workforce.services import assignments, workers
from wangge.workforce.services.workers import phone_digits, place_exists

COLUMNS = [
    "name",
    "kind",
    "phone",
    "place_code",
    "role",
    "origin",
    "team",
    "unit",
    "skills",
    "username",
]
HEADER_ALIASES = {
    "姓名": "name",
    "人员类别": "kind",
    "类别": "kind",
    "手机号码": "phone",
    "电话": "phone",
    "网格编码": "place_code",
    "地点编码": "place_code",
    "职责": "role",
    "派出单位": "origin",
    "志愿服务队": "team",
    "所属单位": "unit",
    "技能": "skills",
    "用户名": "username",
}
REQUIRED = ("name", "kind", "phone", "place_code")
# what the upload pages (and the API) check before the import runs
UPLOAD = uploads.FileImport(
    name="workforce-imports",
    required=REQUIRED,
    aliases=HEADER_ALIASES,
    session_key="wangge_workforce_import_errors",
    code_column="place_code",  # a place code in an error about it is not a phone
    is_code=C.is_valid,
)
_SPLIT = re.compile(r"[;,，；、]")
_USERNAME = re.compile(r"^[\w.@+-]{1,150}$")


@dataclass
class _Row:
    """A row checked and ready to write."""

    n: int
    name: str
    kind: str
    digits: str
    index: str
    code: str
    assign: bool  # the row puts the worker on the place
    role: str
    origin: str
    team: str
    unit: str
    skills: list[str]
    username: str
    worker: Worker | None  # on the roster already (by phone)


class _Checker:
    """Checks rows against the roster, the places of the scope and the rows before them."""

    def __init__(self, actor) -> None:
        self.actor = actor
        self.scope = scope_for(actor)
        self.keys = get_keyring()
        self.kinds = choice_labels(WorkerKind)
        self.roles = choice_labels(AssignmentRole)
        self.skills = choice_labels(Skill)
        self.units = set(Unit.objects.filter(is_active=True).values_list("code", flat=True))
        self.places: dict[str, bool] = {}
        self.phones: dict[str, tuple[int, str]] = {}  # digits → (first row, kind)
        self.pairs: dict[tuple[str, str], int] = {}  # (digits, place) → first row
        self.primaries: dict[str, int] = {}  # place → row that makes its primary worker
        self.usernames: dict[str, tuple[int, str]] = {}  # user name → (first row, phone)

    def place_ok(self, code: str) -> bool:
        if code not in self.places:
            self.places[code] = C.is_valid(code) and self.scope.covers(code) and place_exists(code)
        return self.places[code]

    def check(self, n: int, raw: dict[str, str]) -> tuple[_Row | None, list[RowError]]:
        errs: list[RowError] = []
        get = raw.get
        for col in REQUIRED:
            if not get(col):
                errs.append(RowError(n, col, _("required")))
        kind = ""
        if value := get("kind"):
            kind = self.kinds.get(value, "")
            if not kind:
                errs.append(RowError(n, "kind", _("unknown value %(v)s") % {"v": value}))
        digits = index = ""
        worker = None
        if get("phone"):
            try:
                digits = phone_digits(get("phone"))
            except ValidationError:
                errs.append(RowError(n, "phone", _("a phone number has 7 to 12 digits")))
            else:
                # one worker may have several rows (one per place), of one kind
                first, first_kind = self.phones.setdefault(digits, (n, kind))
                if first != n and kind and first_kind and kind != first_kind:
                    errs.append(
                        RowError(
                            n,
                            "kind",
                            _("row %(row)d has this phone with another kind") % {"row": first},
                        )
                    )
                pair = self.pairs.setdefault((digits, C.normalize(get("place_code", ""))), n)
                if pair != n:
                    errs.append(RowError(n, "phone", _("the same as row %(row)d") % {"row": pair}))
                index = self.keys.blind_index(digits, field=Field.PHONE)
                worker = Worker.objects.filter(phone_index=index).first()
        if worker is not None:
            if not workers.worker_in_scope(self.actor, worker):
                errs.append(
                    RowError(
                        n, "phone", _("a worker with this phone is registered outside your area")
                    )
                )
            elif worker.status == WorkerStatus.LEFT:
                errs.append(
                    RowError(n, "phone", _("this worker has left; an import does not bring back"))
                )
            elif kind and worker.kind != kind:
                errs.append(
                    RowError(
                        n,
                        "kind",
                        _("this worker is registered as %(kind)s")
                        % {"kind": WorkerKind(worker.kind).label},
                    )
                )
        code = C.normalize(get("place_code", ""))
        assign, role = False, ""
        if code:
            if not self.place_ok(code):
                errs.append(RowError(n, "place_code", _("unknown place %(code)s") % {"code": code}))
            elif kind:
                level = C.level_of(code)
                assign = len(code) >= 15 or (level == Level.COMMUNITY and kind in LIAISON_KINDS)
                wanted = get("role", "")
                if wanted and wanted not in self.roles:
                    errs.append(RowError(n, "role", _("unknown value %(v)s") % {"v": wanted}))
                elif assign:
                    try:
                        role = assignments.assignment_role_for(
                            kind, code, self.roles.get(wanted) if wanted else None
                        )
                    except ValidationError as exc:
                        column = "role" if exc.code == "not_primary_kind" else "place_code"
                        errs.append(RowError(n, column, exc.message))
                    else:
                        if role == AssignmentRole.PRIMARY:
                            errs += self._primary_taken(n, code, worker)
                elif wanted:
                    errs.append(
                        RowError(n, "role", _("a worker is assigned to a grid or a micro-grid"))
                    )
        skills = []
        for s in _SPLIT.split(get("skills", "")):
            s = s.strip()
            if not s:
                continue
            if s in self.skills:
                skills.append(self.skills[s])
            else:
                errs.append(RowError(n, "skills", _("unknown value %(v)s") % {"v": s}))
        unit = get("unit", "")
        if unit and unit not in self.units:
            errs.append(RowError(n, "unit", _("unknown unit %(v)s") % {"v": unit}))
        for col in ("origin", "team"):
            if len(get(col, "")) > 100:
                errs.append(RowError(n, col, _("at most 100 characters")))
        if len(get("name", "")) > 50:
            errs.append(RowError(n, "name", _("at most 50 characters")))
        username = get("username", "")
        if username:
            errs += self._username(n, username, digits, worker)
        if not errs and role == AssignmentRole.PRIMARY:
            errs += self._primary_claim(n, code)
        if errs:
            return None, errs
        return (
            _Row(
                n=n,
                name=raw["name"],
                kind=kind,
                digits=digits,
                index=index,
                code=code,
                assign=assign,
                role=role,
                origin=get("origin", ""),
                team=get("team", ""),
                unit=unit,
                skills=sorted(set(skills)),
                username=username,
                worker=worker,
            ),
            [],
        )

    def _primary_taken(self, n: int, code: str, worker: Worker | None) -> list[RowError]:
        """The place's primary worker on the roster now, if it is someone else."""
        current = (
            Assignment.objects.filter(
                place_code=code, role=AssignmentRole.PRIMARY, ended_at__isnull=True
            )
            .select_related("worker")
            .first()
        )
        if current is not None and (worker is None or current.worker_id != worker.pk):
            return [
                RowError(
                    n,
                    "place_code",
                    _("this place already has a primary worker (%(name)s); hand it over first")
                    % {"name": current.worker.name},
                )
            ]
        return []

    def _primary_claim(self, n: int, code: str) -> list[RowError]:
        """A good row making a place's primary worker claims the place for the file."""
        first = self.primaries.setdefault(code, n)
        if first != n:
            return [
                RowError(
                    n,
                    "place_code",
                    _("row %(row)d already makes the primary worker of this place")
                    % {"row": first},
                )
            ]
        return []

    def _username(
        self, n: int, username: str, digits: str, worker: Worker | None
    ) -> list[RowError]:
        if not _USERNAME.match(username):
            return [RowError(n, "username", _("letters, digits and @ . + - _ only"))]
        first, first_digits = self.usernames.setdefault(username, (n, digits))
        if first != n:
            if first_digits != digits:
                return [
                    RowError(
                        n,
                        "username",
                        _("row %(row)d has this user name with another phone") % {"row": first},
                    )
                ]
            return []  # another place of the same worker
        owner_id = (
            get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()
        )
        if owner_id is not None and (worker is None or worker.user_id != owner_id):
            return [RowError(n, "username", _("this user name is taken"))]
        return []


def _write(actor, row: _Row, result: ImportResult) -> None:
    """One checked row through the services."""
    # an earlier row of the file may have registered the worker
    worker = row.worker or Worker.objects.filter(phone_index=row.index).first()
    existed = worker is not None
    changed = False
    if worker is None:
        user = None
        if row.username:  # checked: not taken
            User = get_user_model()
            user = User(username=row.username, first_name=row.name[:150])
            user.set_unusable_password()
            user.save()
        worker = workers.worker_register(
            actor=actor,
            name=row.name,
            kind=row.kind,
            phone=row.digits,
            place_code=row.code if len(row.code) < 15 else row.code[:12],
            skills=row.skills,
            origin=row.origin,
            team=row.team,
            unit=row.unit,
            user=user,
        )
        result.created += 1
    else:
        changed = bool(
            # an empty cell changes nothing (a worker's second row may leave them empty)
            workers.worker_update(
                actor=actor,
                worker=worker,
                name=row.name,
                skills=row.skills or None,
                origin=row.origin or None,
                team=row.team or None,
                unit=row.unit or None,
            )
        )
    if (
        row.assign
        and not worker.assignments.filter(place_code=row.code, ended_at__isnull=True).exists()
    ):
        assignments.assignment_start(actor=actor, worker=worker, place_code=row.code, role=row.role)
        changed = True
    if existed:
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1


def roster_import(
    *, actor, path: Path, mode: str = "all", error_path: Path | None = None, progress=None
) -> ImportResult:
    """Import a roster file; see the module docstring. ``mode`` is ``all`` or ``good``."""
    require(actor, Perm.WORKFORCE_MANAGE)
    if mode not in core_imports.MODES:
        raise ValidationError(_("The mode is 'all' (all or nothing) or 'good' (good rows)."))
    result = ImportResult()
    return core_imports.rows_import(
        actor=actor,
        path=path,
        mode=mode,
        aliases=HEADER_ALIASES,
        columns=COLUMNS,
        check=_Checker(actor).check,
        write=lambda row: _write(actor, row, result),
        result=result,
        action="workforce.import",
        error_path=error_path,
        progress=progress,
    )
