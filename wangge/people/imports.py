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
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core import imports as core_imports
from wangge.core.errors import ValidationError
from wangge.core.imports import ErrorFile, ImportResult, RowError, choice_labels
from wangge.core.masking import mask_id_number, mask_phone
from wangge.people.crypto import Field, FieldCrypto, get_keyring, normalize_phone
from wangge.people.enums import HouseUse, Registration, Relation
from wangge.people.idcard import IdNumberError, id_number_parts
from wangge.people.models import Building, House, Resident
from wangge.people.pinyin import initials
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
BATCH = 5_000  # good rows written per transaction (each batch costs ~10 round trips)
AHEAD = 2  # batches validated and encrypted ahead of the writer (bounded: memory stays flat)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, values by column) of a CSV or XLSX file, streamed; row 1 is the header."""
    return core_imports.read_rows(path, HEADER_ALIASES)


@dataclass(frozen=True)
class _Context:
    """What validating a row needs, fixed for one import. With the two ``FieldCrypto`` (the
    writing pass), a good row comes out encrypted and indexed, ready for the database."""

    grids: dict[str, tuple[float | None, float | None, bool]]  # code → centroid, in scope
    today: date
    choices: tuple[tuple[str, dict[str, str], str], ...]  # column, labels, default
    id_crypto: FieldCrypto | None = None
    phone_crypto: FieldCrypto | None = None


# A good row, validated (and in the writing pass encrypted), as a plain tuple: an import makes
# millions of them. Unpacked by name where it is used:
# (grid_code, address, building, unit, room, floor, house_use, lon, lat, name, registration,
#  relation, moved_in, sex, birth_date, id_number_enc, id_number_index, phone_enc, phone_index,
#  name_initials)
type _Row = tuple[Any, ...]


def _context(scope, *, crypto: bool) -> _Context:
    grids = {
        code: (lon, lat, scope.covers(code))
        for code, lon, lat in scope.filter(Grid.objects.all()).values_list(
            "code", "centroid_lon", "centroid_lat"
        )
    }
    keys = get_keyring() if crypto else None
    return _Context(
        grids=grids,
        today=timezone.localdate(),
        choices=tuple(
            (col, choice_labels(enum), default)
            for col, enum, default in (
                ("house_use", HouseUse, HouseUse.SELF_OCCUPIED),
                ("registration", Registration, Registration.HOUSEHOLD),
                ("relation", Relation, Relation.HEAD),
            )
        ),
        id_crypto=keys.for_field(Field.ID_NUMBER) if keys else None,
        phone_crypto=keys.for_field(Field.PHONE) if keys else None,
    )


def _validate(
    n: int, raw: dict[str, str], ctx: _Context, seen: dict[int, int]
) -> tuple[_Row | None, list[RowError]]:
    """The row ready to write, or the errors of row ``n`` (every column checked, in column
    order). ``seen`` maps the ID numbers met so far (as the int of their first 17 digits, which
    determine the check character) to their row."""
    errs: list[RowError] = []
    get = raw.get
    for col in REQUIRED:
        if not get(col):
            errs.append(RowError(n, col, _("required")))
    code = get("grid_code", "")
    if code:
        grid = ctx.grids.get(code)
        if grid is None:
            errs.append(RowError(n, "grid_code", _("unknown grid %(code)s") % {"code": code}))
        elif not grid[2]:
            errs.append(
                RowError(n, "grid_code", _("grid %(code)s is outside your area") % {"code": code})
            )
    number, birth, sex = "", None, ""
    idn = get("id_number", "")
    if idn:
        try:
            number, birth, sex = id_number_parts(idn, today=ctx.today)
        except IdNumberError as exc:
            errs.append(RowError(n, "id_number", exc.message))
        else:
            first = seen.setdefault(int(number[:17]), n)
            if first != n:
                errs.append(
                    RowError(
                        n,
                        "id_number",
                        _("duplicate ID number in the file (row %(row)d)") % {"row": first},
                    )
                )
    digits = ""
    phone = get("phone", "")
    if phone:
        digits = normalize_phone(phone)
        if not (digits.isdigit() and 7 <= len(digits) <= 12):
            errs.append(RowError(n, "phone", _("a phone number has 7 to 12 digits")))
    chosen = []
    for col, labels, default in ctx.choices:
        value = get(col, "")
        value = value.strip() if value else ""
        if not value:
            chosen.append(default)
        elif value in labels:
            chosen.append(labels[value])
        else:
            errs.append(RowError(n, col, _("unknown value %(v)s") % {"v": get(col)}))
    moved_in = None
    if value := get("moved_in"):
        try:
            moved_in = date.fromisoformat(value[:10])
        except ValueError:
            errs.append(RowError(n, "moved_in", _("dates are written YYYY-MM-DD")))
    numbers: list[float | int | None] = [None, None, None]
    for i, col in enumerate(("floor", "lon", "lat")):
        if value := get(col):
            try:
                numbers[i] = float(value) if i else int(float(value))
            except ValueError:
                errs.append(RowError(n, col, _("not a number")))
    if errs:
        return None, errs
    if ctx.id_crypto is None or ctx.phone_crypto is None:
        return (), []  # the validating pass keeps nothing
    id_enc = id_index = phone_enc = phone_index = ""
    if number:
        id_enc = ctx.id_crypto.encrypt(number)
        id_index = ctx.id_crypto.blind_index(number)
    if digits:
        phone_enc = ctx.phone_crypto.encrypt(digits)
        phone_index = ctx.phone_crypto.blind_index(digits)
    address = raw["address"]
    name = raw["name"][:50]
    floor, lon, lat = numbers
    use, registration, relation = chosen
    return (
        code,
        address,
        get("building") or address[-10:],
        get("unit", ""),
        raw["room"],
        floor,
        use,
        lon,
        lat,
        name,
        registration,
        relation,
        moved_in,
        sex,
        birth,
        id_enc,
        id_index,
        phone_enc,
        phone_index,
        initials(name),
    ), []


def people_import(
    *, actor, path: Path, mode: str = "all", error_path: Path | None = None, progress=None
) -> ImportResult:
    """Import a file; see the module docstring. ``mode`` is ``all`` or ``good``."""
    require(actor, Perm.PEOPLE_EDIT)
    if mode not in ("all", "good"):
        raise ValidationError(_("The mode is 'all' (all or nothing) or 'good' (good rows)."))
    scope = scope_for(actor)
    result = ImportResult()
    if mode == "all":  # a first pass that only validates: nothing is written if a row is bad
        ctx = _context(scope, crypto=False)
        seen: dict[int, int] = {}
        for n, raw in read_rows(path):
            _row, errs = _validate(n, raw, ctx, seen)
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
    ctx = _context(scope, crypto=True)
    error_file = ErrorFile(Path(error_path), COLUMNS) if error_path is not None else None
    batches = _in_background(_prepared(path, ctx), ahead=AHEAD)
    try:
        for read, rows, bad in batches:
            result.rows += read
            for raw, errs in bad:
                result.add_errors(errs)
                if error_file is not None:
                    error_file.write(raw, errs)
            if rows:
                _write(rows, result, ctx)
                if progress:
                    progress.advance(len(rows))
    finally:
        batches.close()  # stops and joins the preparing thread, also when writing failed
    if error_file is not None:
        error_file.close()
        if result.bad_rows:
            result.error_file = str(error_path)
    audit.record(
        actor=actor,
        action="people.import",
        details={"file": Path(path).name, "mode": mode, **result.as_dict()},
    )
    # the places' resident and household counts: refreshed by the worker's next tick
    from django.core.cache import cache

    cache.delete("people:place-counts")
    return result


def _prepared(
    path: Path, ctx: _Context
) -> Iterator[tuple[int, list[_Row], list[tuple[dict[str, str], list[RowError]]]]]:
    """(rows read, good rows to write, bad rows with their errors), in file order: a batch of
    ``BATCH`` good rows at a time, and the bad rows at least every ``BATCH`` of them (so that a
    file of bad rows does not pile up)."""
    seen: dict[int, int] = {}
    read, rows, bad = 0, [], []
    for n, raw in read_rows(path):
        read += 1
        row, errs = _validate(n, raw, ctx, seen)
        if row is None:
            bad.append((raw, errs))
            if len(bad) >= BATCH:
                yield read, [], bad
                read, bad = 0, []
            continue
        rows.append(row)
        if len(rows) >= BATCH:
            yield read, rows, bad
            read, rows, bad = 0, [], []
    if read:
        yield read, rows, bad


def _in_background[T](items: Iterator[T], *, ahead: int) -> Generator[T, None, None]:
    """The items of ``items``, computed in a thread of their own at most ``ahead`` items in
    advance (a bounded queue: memory stays flat). Validating and encrypting is pure Python and
    holds the GIL; the caller's thread spends much of its time waiting for the database, which
    releases it — so preparing the next batch overlaps with writing this one, and the database
    server works on the second core. An exception in the thread is raised in the caller;
    closing the generator stops and joins the thread. The thread runs in the caller's language
    (error messages) and never touches the database."""
    q: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    language = translation.get_language()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def run() -> None:
        try:
            with translation.override(language):
                for item in items:
                    if not put((True, item)):
                        return
            put((False, None))
        except BaseException as exc:  # handed to the caller, raised there
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="people-import-prepare", daemon=True)
    thread.start()
    try:
        while True:
            more, item = q.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _write(rows: list[_Row], result: ImportResult, ctx: _Context) -> None:
    """Write one batch in one transaction: buildings by address, houses by (building, unit,
    room), residents by the blind index of their ID number. Plain SQL on tuples: the ORM's model
    instances cost more than everything else of an import together."""
    with transaction.atomic(), connection.cursor() as cur:
        buildings = _buildings(cur, rows, ctx)
        houses = _houses(cur, rows, buildings)
        _residents(cur, rows, buildings, houses, result)


def _buildings(cur, rows: list[_Row], ctx: _Context) -> dict[str, tuple[int, str]]:
    """address → (id, grid code) of every building of the batch, the missing ones created (at
    the row's coordinates, else the centroid of its grid)."""
    found = _lookup(cur, Building, ("address",), ("id", "grid_code"), {r[1] for r in rows})
    new: dict[str, Building] = {}
    for code, address, name, _u, _r, _f, _use, lon, lat, *_rest in rows:
        if address not in found and address not in new:
            grid_lon, grid_lat, _covered = ctx.grids[code]
            new[address] = Building(
                grid_code=code,
                address=address,
                name=name,
                lon=grid_lon if lon is None else lon,
                lat=grid_lat if lat is None else lat,
            )
    if new:
        Building.objects.bulk_create(new.values())
        found.update((b.address, (b.pk, b.grid_code)) for b in new.values())
    return found


_HOUSE_KEY = ("building_id", "unit", "room")


def _houses(
    cur, rows: list[_Row], buildings: dict[str, tuple[int, str]]
) -> dict[tuple[int, str, str], tuple[int, str]]:
    """(building id, unit, room) → (id, grid code) of every house of the batch, the missing ones
    created (floor and use from their first row)."""
    wanted: dict[tuple[int, str, str], _Row] = {}  # house → its first row
    for row in rows:
        wanted.setdefault((buildings[row[1]][0], row[3], row[4]), row)
    found = _lookup(cur, House, _HOUSE_KEY, ("id", "grid_code"), wanted)
    new = []
    for key, (_c, address, _n, unit, room, floor, use, *_rest) in wanted.items():
        if key not in found:
            building_id, grid = buildings[address]
            new.append((building_id, grid, unit, 1 if floor is None else floor, room, use))
    if new:
        _insert(cur, House, ["building_id", "grid_code", "unit", "floor", "room", "use"], new)
        found.update(_lookup(cur, House, _HOUSE_KEY, ("id", "grid_code"), wanted.keys() - found))
    return found


_INSERT_COLUMNS = [
    "house_id",
    "grid_code",
    "name",
    "name_initials",
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
_COMPARED_COLUMNS = ["house_id", "grid_code", "name", "registration", "relation", "moved_in"]
_UPDATE_COLUMNS = [*_COMPARED_COLUMNS, "name_initials", "phone_enc", "phone_index"]


def _residents(
    cur,
    rows: list[_Row],
    buildings: dict[str, tuple[int, str]],
    houses: dict[tuple[int, str, str], tuple[int, str]],
    result: ImportResult,
) -> None:
    """Create the residents not yet known by their ID number's blind index, update those whose
    house, name (and so its initials), registration, relation, moving-in date or phone changed
    (``updated_at`` is left as it was, as ``bulk_update`` did), count the rest as unchanged."""
    existing = _lookup(
        cur,
        Resident,
        ("id_number_index",),
        ("id", *_COMPARED_COLUMNS, "phone_enc", "phone_index"),
        {r[16] for r in rows if r[16]},
    )
    now = timezone.now()
    creates, updates = [], []
    for (
        _c,
        address,
        _n,
        unit,
        room,
        _f,
        _use,
        _lon,
        _lat,
        name,
        registration,
        relation,
        moved_in,
        sex,
        birth,
        id_enc,
        id_index,
        phone_enc,
        phone_index,
        name_initials,
    ) in rows:
        house_id, grid = houses[(buildings[address][0], unit, room)]
        target = existing.get(id_index) if id_index else None
        if target is None:
            creates.append(
                (
                    house_id,
                    grid,
                    name,
                    name_initials,
                    sex,
                    birth,
                    id_enc,
                    id_index,
                    phone_enc,
                    phone_index,
                    registration,
                    relation,
                    moved_in,
                    "",
                    "",
                    now,
                    now,
                )
            )
            continue
        pk, *stored, stored_phone_enc, stored_phone_index = target
        wanted = (house_id, grid, name, registration, relation, moved_in)
        if phone_index == stored_phone_index:
            if tuple(stored) == wanted:
                result.unchanged += 1
                continue
            phone_enc = stored_phone_enc
        updates.append((*wanted, name_initials, phone_enc, phone_index, pk))
    _insert(cur, Resident, _INSERT_COLUMNS, creates)
    if updates:
        sets = ", ".join(f"{c} = %s" for c in _UPDATE_COLUMNS)
        cur.executemany(f"UPDATE {Resident._meta.db_table} SET {sets} WHERE id = %s", updates)
    result.created += len(creates)
    result.updated += len(updates)


def _lookup(cur, model, key: tuple[str, ...], columns: tuple[str, ...], keys) -> dict:
    """{key: columns} of the rows of ``model`` whose unique ``key`` (one column: values; several:
    tuples) is among ``keys``.

    On PostgreSQL the keys go as one array parameter per key column, each key looked up through
    the key's index (``LATERAL … LIMIT 1``): thousands of placeholders cost more to send than
    the query costs to run, and during an import into a growing table the planner has no
    statistics yet and would scan the whole table for a plain ``= ANY(…)`` or a join. On SQLite
    the keys go as a ``VALUES`` list (in chunks of placeholders) driving a loop over the key's
    index: a multi-column ``IN (VALUES …)`` would scan the whole index instead."""
    table = model._meta.db_table
    keys = list(keys)
    single = len(key) == 1
    cols = ", ".join(columns)
    out: dict = {}
    if not keys:
        return out
    if connection.vendor == "postgresql":
        import psycopg

        fields = {f.column: f for f in model._meta.concrete_fields}
        arrays = ", ".join(f"%s::{fields[k].db_type(connection).split('(')[0]}[]" for k in key)
        names = ", ".join(f"k{i}" for i in range(len(key)))
        match = " AND ".join(f"{k} = keys.k{i}" for i, k in enumerate(key))
        sql = (
            f"SELECT {names}, t.* FROM unnest({arrays}) AS keys({names}) CROSS JOIN LATERAL "
            f"(SELECT {cols} FROM {table} WHERE {match} LIMIT 1) AS t"
        )
        columns_of_keys = [keys] if single else list(zip(*keys, strict=True))
        with psycopg.Cursor(cur.cursor.connection) as server_bound:
            server_bound.execute(sql, [_array_literal(c) for c in columns_of_keys])
            fetched = server_bound.fetchall()
    else:
        fetched = []
        names = ", ".join(f"k{i}" for i in range(len(key)))
        match = " AND ".join(f"t.{k} = keys.k{i}" for i, k in enumerate(key))
        placeholders = f"({', '.join(['%s'] * len(key))})"
        step = 900 // len(key)
        for i in range(0, len(keys), step):
            chunk = keys[i : i + step]
            cur.execute(
                f"WITH keys({names}) AS (VALUES {', '.join([placeholders] * len(chunk))}) "
                f"SELECT {names}, {', '.join(f't.{c}' for c in columns)} "
                f"FROM keys CROSS JOIN {table} AS t ON {match}",  # CROSS: keys drive the loop
                chunk if single else [v for k in chunk for v in k],
            )
            fetched += cur.fetchall()
    n = len(key)
    for row in fetched:
        out[row[0] if single else row[:n]] = row[n:]
    return out


def _array_literal(values) -> str:
    """A PostgreSQL array literal of ints or strings, every string quoted and escaped: four
    times cheaper than letting psycopg dump thousands of values one by one."""
    return (
        "{"
        + ",".join(
            str(v)
            if isinstance(v, int)
            else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        + "}"
    )


def _insert(cur, model, columns: list[str], rows) -> None:
    """Insert rows (tuples in the order of ``columns``) in one statement stream: binary COPY on
    PostgreSQL (psycopg formats a row several times faster in binary than in text, and the
    server parses it faster too), executemany on SQLite. Runs inside the caller's transaction;
    the values were validated (and encrypted) before."""
    if not rows:
        return
    table = model._meta.db_table
    cols = ", ".join(columns)
    if connection.vendor == "postgresql":
        fields = {f.column: f for f in model._meta.concrete_fields}
        types = [fields[c].db_type(connection).split("(")[0] for c in columns]
        with cur.cursor.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for row in rows:
                cp.write_row(row)
    else:
        marks = ", ".join(["%s"] * len(columns))
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)


def people_export(
    *, actor, code: str = "", unmasked: bool = False, reason: str = "", request=None
) -> Iterator[str]:
    """CSV lines of the residents under ``code`` (by default the post's own place) in the import
    format, plus a ``tags`` column (the tag codes the post may see, ``;``-separated: sensitive
    ones only with ``people.sensitive``). Children under 14 (age from the birth date the ID
    number gave) are never in a bulk export, masked or not.

    Masked by default: ID numbers and phones always, names too for posts that see masked names
    in lists. ``unmasked=True`` needs ``people.unmask`` and a reason of at least 4 characters
    (the rule of ``resident_unmask``); a post may make ``WANGGE_UNMASKED_EXPORTS_PER_DAY`` of
    them a day (default 5), the next is refused and raises a security alert. Every export is
    audited (rows, masked or not, reason) when this is called, before the first line is made;
    a refused unmasked export is audited too (outcome ``denied``) before the error is raised."""
    import logging

    from django.conf import settings
    from django.db.models import Prefetch

    from wangge.accounts.rules import has_perm
    from wangge.core.errors import NotFound, PermissionDenied
    from wangge.core.ratelimit import limited
    from wangge.people.selectors import resident_list, visible_tags
    from wangge.people.services import CHILD_AGE
    from wangge.regions.codes import is_valid, normalize

    require(actor, Perm.PEOPLE_VIEW)
    scope = scope_for(actor)
    code = normalize(code or "") or (scope.root or "")
    if not is_valid(code):
        raise NotFound(_("No place has the code %(code)s.") % {"code": code})
    scope.check(code)  # NotFound outside the scope
    reason = (reason or "").strip()
    if unmasked:
        refusal: Exception | None = None
        per_day = int(getattr(settings, "WANGGE_UNMASKED_EXPORTS_PER_DAY", 5))
        if not has_perm(actor, Perm.PEOPLE_UNMASK):
            refusal = PermissionDenied(_("Your post may not export unmasked personal data."))
        elif len(reason) < 4:
            refusal = ValidationError(
                _(
                    "Say why you need the full values (at least 4 characters), and the event or "
                    "task it serves."
                ),
                code="reason_required",
            )
        elif getattr(actor, "pk", None) is not None and limited(
            f"export-unmasked:{actor.pk}", limit=per_day, window=86400
        ):
            logging.getLogger("wangge.security").warning(
                "security alert: post %s exceeded %s unmasked exports a day", actor.pk, per_day
            )
            refusal = PermissionDenied(
                _("Too many unmasked exports today; the security administrator has been alerted."),
                code="export_rate",
            )
        if refusal is not None:
            audit.record(
                actor=actor,
                action="export.people",
                object_type="people.resident",
                object_id=code,
                details={"rows": 0, "masked": False, "reason": reason},
                request=request,
                outcome="denied",
            )
            raise refusal
    today = timezone.localdate()
    try:
        cutoff = today.replace(year=today.year - CHILD_AGE)  # born after it: under 14 today
    except ValueError:  # 29 February, and that year had none
        cutoff = today.replace(year=today.year - CHILD_AGE, day=28)
    qs = (
        resident_list(actor=actor, filters={"grid": code})
        .exclude(birth_date__gt=cutoff)
        .prefetch_related(
            Prefetch(
                "tags", queryset=visible_tags(actor=actor).order_by("code"), to_attr="export_tags"
            )
        )
    )
    audit.record(
        actor=actor,
        action="export.people",
        object_type="people.resident",
        object_id=code,
        details={"rows": qs.count(), "masked": not unmasked, "reason": reason},
        request=request,
    )
    # names as the post sees them in lists (full for posts that keep the data)
    full_names = unmasked or has_perm(actor, Perm.PEOPLE_EDIT)
    return _export_lines(qs, unmasked=unmasked, full_names=full_names)


def _export_lines(qs, *, unmasked: bool = False, full_names: bool = True) -> Iterator[str]:
    """The lines of the export: a UTF-8 BOM (for Excel) and the header, then one line per
    resident, decrypted one at a time and masked unless ``unmasked``. Text a spreadsheet would
    run as a formula (``=``, ``+``, ``-``, ``@`` … at the start, not a number) gets a leading
    ``'``."""
    from wangge.core.masking import mask_name

    def cell(value: str) -> str:
        if value and value[0] in "=+-@\t\r":
            try:
                float(value)
            except ValueError:
                return "'" + value
        return value

    keys = get_keyring()
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")
    w.writerow([*COLUMNS, "tags"])
    yield buf.getvalue()
    for r in qs.iterator(chunk_size=2000):
        buf.seek(0)
        buf.truncate()
        h = r.house
        b = h.building if h else None
        idn = keys.decrypt(r.id_number_enc, field=Field.ID_NUMBER) if r.id_number_enc else ""
        phone = keys.decrypt(r.phone_enc, field=Field.PHONE) if r.phone_enc else ""
        if not unmasked:
            idn, phone = mask_id_number(idn) if idn else "", mask_phone(phone) if phone else ""
        w.writerow(
            [
                r.grid_code,
                cell(b.address) if b else "",
                cell(b.name) if b else "",
                cell(h.unit) if h else "",
                h.floor if h else "",
                cell(h.room) if h else "",
                h.use if h else "",
                cell(r.name if full_names else mask_name(r.name)),
                idn,
                phone,
                r.registration,
                r.relation,
                r.moved_in.isoformat() if r.moved_in else "",
                b.lon if b else "",
                b.lat if b else "",
                ";".join(t.code for t in r.export_tags),
            ]
        )
        yield buf.getvalue()
