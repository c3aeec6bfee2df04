"""Import of 12345 hotline work orders (CSV or XLSX), one row per work order.

Columns (Chinese headers are accepted too)::

    work_order, time, category, title, description, address, lon, lat, grid_code, caller,
    urgency

Every row is validated (row number, column, reason) and becomes a report through the batch
intake (``event_report_many``, the same answers and rows as ``event_report``) with source
``hotline``, the work-order number as its idempotency key and external number, and the
work-order time as the time of the report. Two modes, as the people import: ``all`` writes
nothing if any row is bad (the whole file in one transaction, rolled back); ``good`` writes
the good rows and an error file with the bad ones (the original columns plus ``error``) that a
clerk can fix and import again.

Importing a file again changes nothing: a work order already imported with the same content is
counted as unchanged; the same number with other content (another category, title, place …
or another time) is a bad row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.core import audit
from wangge.core import imports as core_imports
from wangge.core.errors import ValidationError
from wangge.core.imports import ErrorFile, ImportResult, RowError
from wangge.events.batch import MAX_ITEMS, event_report_many
from wangge.events.enums import Source, Urgency
from wangge.events.models import Category, Event

COLUMNS = [
    "work_order",
    "time",
    "category",
    "title",
    "description",
    "address",
    "lon",
    "lat",
    "grid_code",
    "caller",
    "urgency",
]
HEADER_ALIASES = {
    "工单编号": "work_order",
    "工单号": "work_order",
    "时间": "time",
    "受理时间": "time",
    "来电时间": "time",
    "分类": "category",
    "类别": "category",
    "事件类别": "category",
    "分类编码": "category",
    "标题": "title",
    "描述": "description",
    "诉求内容": "description",
    "地址": "address",
    "经度": "lon",
    "纬度": "lat",
    "网格编码": "grid_code",
    "来电人": "caller",
    "来电人姓名": "caller",
    "紧急程度": "urgency",
}
REQUIRED = ("work_order", "time", "category", "title")
URGENCY_WORDS = {
    "一般": Urgency.NORMAL,
    "普通": Urgency.NORMAL,
    "紧急": Urgency.URGENT,
    "急": Urgency.URGENT,
    "特急": Urgency.EMERGENCY,
    "特别紧急": Urgency.EMERGENCY,
}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
CHUNK = 500  # rows a batch call (≤ MAX_ITEMS); in "good" mode one transaction each
FUTURE_SLACK = timedelta(minutes=10)  # clocks of the hotline system may run a little ahead
# The batch intake's error codes that are not tied to one field, by the column they concern.
CODE_COLUMNS = {
    "key_reused": "work_order",
    "in_flight": "work_order",
    "invalid_point": "lon",
    "outside_city": "lon",
    "bad_coordinates": "lon",
    "no_places": "lon",
}


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, values by column) of a CSV or XLSX file of work orders, streamed."""
    return core_imports.read_rows(path, HEADER_ALIASES)


@dataclass(frozen=True)
class _Context:
    small: dict[str, str]  # code, Chinese and English name of a small category → its code
    major: frozenset[str]  # the same of the major categories (refused with a hint)
    urgency: dict[str, str]
    now: datetime


def _context() -> _Context:
    small, major = {}, set()
    for c in Category.objects.filter(is_active=True):
        names = {c.code, c.name, c.name_en, c.name_en.lower()}
        if c.parent_id is None:
            major |= names
        else:
            small.update(dict.fromkeys(names, c.code))
    words = {u.value: u.value for u in Urgency}
    words.update({str(u.label).lower(): u.value for u in Urgency})
    words.update({k: v.value for k, v in URGENCY_WORDS.items()})
    return _Context(small, frozenset(major), words, timezone.now())


def _parse_time(value: str) -> datetime | None:
    value = value.strip()
    for fmt in TIME_FORMATS:
        try:
            t = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    else:
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            return None
    return t if timezone.is_aware(t) else timezone.make_aware(t)


def _validate(
    n: int, raw: dict[str, str], ctx: _Context, seen: dict[str, int]
) -> tuple[dict[str, Any] | None, list[RowError]]:
    """The batch item of row ``n``, or its errors (every column checked, in column order).
    ``seen`` maps the work-order numbers met so far in the file to their row."""
    errs: list[RowError] = []
    get = raw.get
    for col in REQUIRED:
        if not get(col):
            errs.append(RowError(n, col, _("required")))
    number = get("work_order", "")
    if number:
        if len(number) > 60:
            errs.append(RowError(n, "work_order", _("at most 60 characters")))
        first = seen.setdefault(number, n)
        if first != n:
            errs.append(
                RowError(
                    n,
                    "work_order",
                    _("duplicate work-order number in the file (row %(row)d)") % {"row": first},
                )
            )
    at = None
    if value := get("time"):
        at = _parse_time(value)
        if at is None:
            errs.append(RowError(n, "time", _("times are written YYYY-MM-DD HH:MM[:SS]")))
        elif at > ctx.now + FUTURE_SLACK:
            errs.append(RowError(n, "time", _("the time lies in the future")))
    category = ""
    if value := get("category"):
        category = ctx.small.get(value) or ctx.small.get(value.lower(), "")
        if not category:
            if value in ctx.major or value.lower() in ctx.major:
                reason = _("%(v)s is a major category; choose a small one (小类)") % {"v": value}
            else:
                reason = _("unknown category %(v)s") % {"v": value}
            errs.append(RowError(n, "category", reason))
    urgency = Urgency.NORMAL.value
    if value := get("urgency"):
        urgency = ctx.urgency.get(value) or ctx.urgency.get(value.lower(), "")
        if not urgency:
            errs.append(RowError(n, "urgency", _("unknown value %(v)s") % {"v": value}))
    point: list[float | None] = [None, None]
    for i, col in enumerate(("lon", "lat")):
        if value := get(col):
            try:
                point[i] = float(value)
            except ValueError:
                errs.append(RowError(n, col, _("not a number")))
    if bool(get("lon")) != bool(get("lat")):
        missing = "lat" if get("lon") else "lon"
        errs.append(RowError(n, missing, _("give both longitude and latitude, or neither")))
    if len(get("caller", "")) > 60:
        errs.append(RowError(n, "caller", _("at most 60 characters")))
    if errs:
        return None, errs
    return {
        "category": category,
        "title": raw["title"],
        "description": get("description", ""),
        "urgency": urgency,
        "lon": point[0],
        "lat": point[1],
        "grid_code": get("grid_code", ""),
        "address": get("address", ""),
        "reporter_name": get("caller", ""),
        "external_ref": number,
        "key": number,
        "at": at,
    }, []


class _Invalid(Exception):
    """Raised inside the all-or-nothing transaction to roll it back."""


def hotline_import(
    *, actor, path: Path, mode: str = "all", error_path: Path | None = None, progress=None
) -> ImportResult:
    """Import a file of work orders; see the module docstring. ``mode`` is ``all`` or
    ``good``."""
    require(actor, Perm.PLACES_IMPORT)
    if mode not in ("all", "good"):
        raise ValidationError(_("The mode is 'all' (all or nothing) or 'good' (good rows)."))
    result = ImportResult()
    error_file = ErrorFile(Path(error_path), COLUMNS) if error_path and mode == "good" else None
    try:
        if mode == "all":
            try:
                with transaction.atomic():
                    _run(actor, path, result, None, progress, per_chunk=False)
                    if result.bad_rows:
                        raise _Invalid
            except _Invalid:
                audit.record(
                    actor=actor,
                    action="events.import_hotline",
                    outcome="failed",
                    details={"file": Path(path).name, "mode": mode, **result.as_dict()},
                )
                raise ValidationError(
                    _("%(n)d rows have errors; nothing was imported.") % {"n": result.bad_rows},
                    code="import_invalid",
                    details=[e.__dict__ for e in sorted(result.errors, key=lambda e: e.row)],
                ) from None
        else:
            _run(actor, path, result, error_file, progress, per_chunk=True)
    finally:
        if error_file is not None:
            error_file.close()
    if error_file is not None and error_file.rows:
        result.error_file = str(error_path)
    result.errors.sort(key=lambda e: e.row)
    audit.record(
        actor=actor,
        action="events.import_hotline",
        details={"file": Path(path).name, "mode": mode, **result.as_dict()},
    )
    return result


def _run(actor, path, result: ImportResult, error_file, progress, *, per_chunk: bool) -> None:
    ctx = _context()
    seen: dict[str, int] = {}
    chunk: list[tuple[int, dict[str, str], dict[str, Any]]] = []

    def flush() -> None:
        if not chunk:
            return
        if per_chunk:
            with transaction.atomic():
                bad = _write(actor, chunk, result)
        else:
            bad = _write(actor, chunk, result)
        for raw, errs in bad:
            result.add_errors(errs)
            if error_file is not None:
                error_file.write(raw, errs)
        if progress:
            progress.advance(len(chunk))
        chunk.clear()

    for n, raw in read_rows(path):
        result.rows += 1
        item, errs = _validate(n, raw, ctx, seen)
        if item is None:
            result.add_errors(errs)
            if error_file is not None:
                error_file.write(raw, errs)
            continue
        chunk.append((n, raw, item))
        if len(chunk) >= CHUNK:
            flush()
    flush()


def _write(actor, chunk, result: ImportResult) -> list[tuple[dict[str, str], list[RowError]]]:
    """Report one chunk through the batch intake; the rows it refused, with their errors. A
    work order already imported at another time is refused here (the time is not part of the
    payload the intake compares)."""
    assert len(chunk) <= MAX_ITEMS
    times = dict(
        Event.objects.filter(
            idem_scope=Source.HOTLINE.value, idem_key__in=[item["key"] for _n, _r, item in chunk]
        ).values_list("idem_key", "reported_at")
    )
    bad, items, rows = [], [], []
    for n, raw, item in chunk:
        known = times.get(item["key"])
        if known is not None and known != item["at"]:
            when = timezone.localtime(known).strftime("%Y-%m-%d %H:%M:%S")
            reason = _("work order already imported with another time (%(t)s)") % {"t": when}
            bad.append((raw, [RowError(n, "work_order", reason)]))
            continue
        items.append(item)
        rows.append((n, raw))
    for (n, raw), r in zip(
        rows, event_report_many(actor=actor, items=items, source=Source.HOTLINE), strict=True
    ):
        if r.status == "created":
            result.created += 1
        elif r.status == "existing":
            result.unchanged += 1
        else:
            column = r.field or CODE_COLUMNS.get(r.code, "work_order")
            reason = (
                _("work order already imported with other content")
                if r.code == "key_reused"
                else r.message
            )
            bad.append((raw, [RowError(n, column, reason)]))
    bad.sort(key=lambda b: b[1][0].row)
    return bad
