"""Import and export of person–house data (CSV or XLSX), one row per resident.

Columns (Chinese headers are accepted too)::

    grid_code, address, building, unit, floor, room, house_use, name, id_number, phone,
    registration, relation, moved_in, lon, lat

Import streams the file (constant memory), validates every row (row number, column, reason)
and has two modes: ``all`` writes nothing if any row is bad; ``good`` writes the good rows and
an error file with the bad ones (the original columns plus ``error``) that a clerk can fix and
import again. It is idempotent: buildings are matched by address, houses by building, unit and
room, residents by the blind index of their ID number, and a row that changes nothing writes
nothing. Rows are written in batches, each batch in one transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import ValidationError
from wangge.core.masking import mask_id_number, mask_phone
from wangge.people.crypto import Field, get_keyring, normalize_phone
from wangge.people.enums import HouseUse, Registration, Relation
from wangge.people.idcard import IdNumberError, validate_id_number
from wangge.people.models import Building, House, Resident
from wangge.regions.models import Grid

COLUMNS = [
    "grid_code",
    "address",
    "building",
    "unit",
    "floor",
    "room",
    "house_use",
    "name",
    "id_number",
    "phone",
    "registration",
    "relation",
    "moved_in",
    "lon",
    "lat",
]
HEADER_ALIASES = {
    "网格编码": "grid_code",
    "地址": "address",
    "楼栋": "building",
    "单元": "unit",
    "楼层": "floor",
    "房号": "room",
    "房屋用途": "house_use",
    "姓名": "name",
    "身份证号码": "id_number",
    "电话": "phone",
    "户籍类型": "registration",
    "与户主关系": "relation",
    "迁入日期": "moved_in",
    "经度": "lon",
    "纬度": "lat",
}
REQUIRED = ("grid_code", "address", "room", "name")
BATCH = 2_000


@dataclass
class RowError:
    row: int
    column: str
    reason: str


MAX_KEPT_ERRORS = 1_000  # the rest are counted (and in the error file), not kept in memory


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad_rows: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_KEPT_ERRORS
    error_file: str | None = None

    def add_errors(self, errs: list[RowError]) -> None:
        self.bad_rows += 1
        room = MAX_KEPT_ERRORS - len(self.errors)
        if room > 0:
            self.errors += errs[:room]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.bad_rows,
        }


@cache
def _labels(enum) -> dict[str, str]:
    """Every way a clerk may write a choice: its code, its English and its Chinese label."""
    out = {}
    for lang in ("en", "zh-hans"):
        with translation.override(lang):
            for v, label in enum.choices:
                out[str(label)] = v
                out[str(label).split(" (")[0]] = v  # "Floating (流动)" → "Floating"
                if "(" in str(label):
                    out[str(label).split("(")[1].rstrip(")")] = v  # → "流动"
    out.update({v: v for v in enum.values})
    return out


def _choice(enum, value: str, default):
    value = (value or "").strip()
    if not value:
        return default
    try:
        return _labels(enum)[value]
    except KeyError:
        raise ValueError(value) from None


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, values by column) of a CSV or XLSX file, streamed; row 1 is the header."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        rows = wb.active.iter_rows(values_only=True)
        header = [str(c or "").strip() for c in next(rows, [])]
        names = [HEADER_ALIASES.get(h, h) for h in header]
        for n, values in enumerate(rows, start=2):
            yield (
                n,
                {
                    k: "" if v is None else str(v).strip()
                    for k, v in zip(names, values, strict=False)
                },
            )
        wb.close()
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        names = [HEADER_ALIASES.get(h.strip(), h.strip()) for h in header]
        for n, values in enumerate(reader, start=2):
            yield n, {k: v.strip() for k, v in zip(names, values, strict=False)}


@dataclass
class _Row:
    n: int
    raw: dict[str, str]
    values: dict[str, Any]


def _validate(
    n: int, raw: dict[str, str], grids: dict[str, bool], scope, seen: dict[str, int]
) -> tuple[_Row | None, list[RowError]]:
    errs: list[RowError] = []
    v: dict[str, Any] = {}
    for col in REQUIRED:
        if not raw.get(col):
            errs.append(RowError(n, col, _("required")))
    code = raw.get("grid_code", "")
    if code:
        if code not in grids:
            errs.append(RowError(n, "grid_code", _("unknown grid %(code)s") % {"code": code}))
        elif not scope.covers(code):
            errs.append(
                RowError(n, "grid_code", _("grid %(code)s is outside your area") % {"code": code})
            )
    idn = raw.get("id_number", "")
    if idn:
        try:
            info = validate_id_number(idn)
            v["id"] = info
            if info.number in seen:
                errs.append(
                    RowError(
                        n,
                        "id_number",
                        _("duplicate ID number in the file (row %(row)d)")
                        % {"row": seen[info.number]},
                    )
                )
            else:
                seen[info.number] = n
        except IdNumberError as exc:
            errs.append(RowError(n, "id_number", exc.message))
    phone = raw.get("phone", "")
    if phone:
        digits = normalize_phone(phone)
        if not (digits.isdigit() and 7 <= len(digits) <= 12):
            errs.append(RowError(n, "phone", _("a phone number has 7 to 12 digits")))
        v["phone"] = digits
    for col, enum, default in (
        ("house_use", HouseUse, HouseUse.SELF_OCCUPIED),
        ("registration", Registration, Registration.HOUSEHOLD),
        ("relation", Relation, Relation.HEAD),
    ):
        try:
            v[col] = _choice(enum, raw.get(col, ""), default)
        except ValueError:
            errs.append(RowError(n, col, _("unknown value %(v)s") % {"v": raw.get(col)}))
    if raw.get("moved_in"):
        try:
            v["moved_in"] = date.fromisoformat(raw["moved_in"][:10])
        except ValueError:
            errs.append(RowError(n, "moved_in", _("dates are written YYYY-MM-DD")))
    for col in ("floor", "lon", "lat"):
        if raw.get(col):
            try:
                v[col] = float(raw[col]) if col != "floor" else int(float(raw[col]))
            except ValueError:
                errs.append(RowError(n, col, _("not a number")))
    if errs:
        return None, errs
    return _Row(n, raw, v), []


def people_import(
    *, actor, path: Path, mode: str = "all", error_path: Path | None = None, progress=None
) -> ImportResult:
    """Import a file; see the module docstring. ``mode`` is ``all`` or ``good``."""
    require(actor, Perm.PEOPLE_EDIT)
    if mode not in ("all", "good"):
        raise ValidationError(_("The mode is 'all' (all or nothing) or 'good' (good rows)."))
    scope = scope_for(actor)
    grids = {c: True for c in scope.filter(Grid.objects.all()).values_list("code", flat=True)}
    result = ImportResult()
    if mode == "all":  # a first pass that only validates: nothing is written if a row is bad
        seen: dict[str, int] = {}
        for n, raw in read_rows(path):
            _row, errs = _validate(n, raw, grids, scope, seen)
            if errs:
                result.add_errors(errs)
            result.rows += 1
        if result.bad_rows:
            audit.record(
                actor=actor,
                action="people.import",
                outcome="failed",
                details={"file": Path(path).name, **result.as_dict()},
            )
            raise ValidationError(
                _("%(n)d rows have errors; nothing was imported.") % {"n": result.bad_rows},
                code="import_invalid",
                details=[e.__dict__ for e in result.errors[:1000]],
            )
        result.rows = 0
    seen = {}
    batch: list[_Row] = []
    error_file = _ErrorFile(Path(error_path)) if error_path is not None else None
    for n, raw in read_rows(path):
        result.rows += 1
        row, errs = _validate(n, raw, grids, scope, seen)
        if errs:
            result.add_errors(errs)
            if error_file is not None:
                error_file.write(raw, errs)
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            _write(batch, result)
            if progress:
                progress.advance(len(batch))
            batch = []
    if batch:
        _write(batch, result)
        if progress:
            progress.advance(len(batch))
    if error_file is not None:
        error_file.close()
        if result.bad_rows:
            result.error_file = str(error_path)
    audit.record(
        actor=actor,
        action="people.import",
        details={"file": Path(path).name, "mode": mode, **result.as_dict()},
    )
    return result


def _write(batch: list[_Row], result: ImportResult) -> None:
    keys = get_keyring()
    with transaction.atomic():
        addresses = {r.raw["address"] for r in batch}
        buildings = {b.address: b for b in Building.objects.filter(address__in=addresses)}
        new_buildings = []
        for r in batch:
            a = r.raw["address"]
            if a not in buildings:
                grid = Grid.objects.only("centroid_lon", "centroid_lat").get(
                    code=r.raw["grid_code"]
                )
                b = Building(
                    grid_code=r.raw["grid_code"],
                    address=a,
                    name=r.raw.get("building") or a[-10:],
                    lon=r.values.get("lon", grid.centroid_lon),
                    lat=r.values.get("lat", grid.centroid_lat),
                )
                buildings[a] = b
                new_buildings.append(b)
        Building.objects.bulk_create(new_buildings)
        houses = {
            (h.building_id, h.unit, h.room): h
            for h in House.objects.filter(building__in=[b.pk for b in buildings.values()])
        }
        new_houses = []
        for r in batch:
            b = buildings[r.raw["address"]]
            key = (b.pk, r.raw.get("unit", ""), r.raw["room"])
            if key not in houses:
                h = House(
                    building=b,
                    grid_code=b.grid_code,
                    unit=key[1],
                    room=key[2],
                    floor=r.values.get("floor", 1),
                    use=r.values["house_use"],
                )
                houses[key] = h
                new_houses.append(h)
        House.objects.bulk_create(new_houses)
        indexes = [
            keys.blind_index(r.values["id"].number, field=Field.ID_NUMBER)
            for r in batch
            if "id" in r.values
        ]
        existing = {
            x.id_number_index: x for x in Resident.objects.filter(id_number_index__in=indexes)
        }
        creates, updates = [], []
        for r in batch:
            b = buildings[r.raw["address"]]
            house = houses[(b.pk, r.raw.get("unit", ""), r.raw["room"])]
            info = r.values.get("id")
            index = keys.blind_index(info.number, field=Field.ID_NUMBER) if info else ""
            phone = r.values.get("phone", "")
            target = existing.get(index) if index else None
            wanted = {
                "house_id": house.pk,
                "grid_code": house.grid_code,
                "name": r.raw["name"][:50],
                "registration": r.values["registration"],
                "relation": r.values["relation"],
                "moved_in": r.values.get("moved_in"),
            }
            if target is None:
                res = Resident(**wanted)
                if info:
                    res.id_number_enc = keys.encrypt(info.number, field=Field.ID_NUMBER)
                    res.id_number_index = index
                    res.sex, res.birth_date = info.sex, info.birth_date
                if phone:
                    res.phone_enc = keys.encrypt(phone, field=Field.PHONE)
                    res.phone_index = keys.blind_index(phone, field=Field.PHONE)
                creates.append(res)
                if index:
                    existing[index] = res
                continue
            changed = [k for k, val in wanted.items() if getattr(target, k) != val]
            phone_index = keys.blind_index(phone, field=Field.PHONE) if phone else ""
            if phone_index != target.phone_index:
                target.phone_enc = keys.encrypt(phone, field=Field.PHONE) if phone else ""
                target.phone_index = phone_index
                changed += ["phone_enc", "phone_index"]
            for k in changed:
                if k in wanted:
                    setattr(target, k, wanted[k])
            if changed:
                updates.append(target)
            else:
                result.unchanged += 1
        _insert_residents(creates)
        if updates:
            Resident.objects.bulk_update(
                updates,
                [
                    "house_id",
                    "grid_code",
                    "name",
                    "registration",
                    "relation",
                    "moved_in",
                    "phone_enc",
                    "phone_index",
                ],
            )
        result.created += len(creates)
        result.updated += len(updates)


_INSERT_COLUMNS = [
    "house_id",
    "grid_code",
    "name",
    "sex",
    "birth_date",
    "id_number_enc",
    "id_number_index",
    "phone_enc",
    "phone_index",
    "registration",
    "relation",
    "moved_in",
    "contacts_enc",
    "care_level",
    "created_at",
    "updated_at",
]


def _insert_residents(rows: list[Resident]) -> None:
    """Insert new residents in one statement stream: COPY on PostgreSQL, executemany on
    SQLite. The ORM's bulk_create spends most of an import building SQL; this path does not.
    Runs inside the caller's transaction; the rows' values were validated and encrypted."""
    if not rows:
        return
    now = timezone.now()
    values = []
    for r in rows:
        r.created_at = r.updated_at = now
        values.append(tuple(getattr(r, c) for c in _INSERT_COLUMNS))
    table = Resident._meta.db_table
    cols = ", ".join(_INSERT_COLUMNS)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                for v in values:
                    cp.write_row(v)
        else:
            marks = ", ".join(["%s"] * len(_INSERT_COLUMNS))
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)


class _ErrorFile:
    """The bad rows with their errors, written as they are found (constant memory), ready to
    be fixed and imported again. ID numbers and phones are written as they were given: the file
    goes back to the clerk who supplied them. Removed again if no row was bad."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self.w = csv.writer(self.fh)
        self.w.writerow(COLUMNS + ["error"])
        self.rows = 0

    def write(self, raw: dict[str, str], errs: list[RowError]) -> None:
        self.rows += 1
        self.w.writerow(
            [raw.get(c, "") for c in COLUMNS] + ["; ".join(f"{e.column}: {e.reason}" for e in errs)]
        )

    def close(self) -> None:
        self.fh.close()
        if not self.rows:
            self.path.unlink(missing_ok=True)


def people_export(*, actor, code: str, request=None) -> Iterator[str]:
    """CSV lines of the residents under ``code`` in the import format, masked; children under
    14 are never in a bulk export. Audited."""
    from wangge.people.selectors import resident_list
    from wangge.people.services import CHILD_AGE

    require(actor, Perm.PEOPLE_VIEW)
    scope_for(actor).check(code)
    qs = resident_list(actor=actor, filters={"grid": code})
    today = date.today()
    cutoff = date(today.year - CHILD_AGE, today.month, min(today.day, 28))
    qs = qs.exclude(birth_date__gt=cutoff)
    audit.record(
        actor=actor,
        action="export.people",
        object_type="people.resident",
        object_id=code,
        details={"rows": qs.count(), "masked": True},
        request=request,
    )
    return _export_lines(qs)


def _export_lines(qs) -> Iterator[str]:
    keys = get_keyring()
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")
    w.writerow(COLUMNS)
    yield buf.getvalue()
    for r in qs.iterator(chunk_size=2000):
        buf.seek(0)
        buf.truncate()
        h = r.house
        b = h.building if h else None
        idn = keys.decrypt(r.id_number_enc, field=Field.ID_NUMBER) if r.id_number_enc else ""
        phone = keys.decrypt(r.phone_enc, field=Field.PHONE) if r.phone_enc else ""
        w.writerow(
            [
                r.grid_code,
                b.address if b else "",
                b.name if b else "",
                h.unit if h else "",
                h.floor if h else "",
                h.room if h else "",
                h.use if h else "",
                r.name,
                mask_id_number(idn) if idn else "",
                mask_phone(phone) if phone else "",
                r.registration,
                r.relation,
                r.moved_in.isoformat() if r.moved_in else "",
                b.lon if b else "",
                b.lat if b else "",
            ]
        )
        yield buf.getvalue()
