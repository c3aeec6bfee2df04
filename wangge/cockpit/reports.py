"""The cockpit's tables as files: pure functions from the selectors' answers to rows, and from
rows to an Excel workbook or a CSV file.

A ``Table`` is a sheet: a key (``kpis``, ``children``, ``trend``, ``mix``), a title, columns and
rows of plain values. Numbers stay numbers (rates in percent with one decimal, as the selectors
give them; the column's header says ``(%)``), codes stay text so 12–18 digit codes keep every
digit, dates are dates. Headers are translated into the active language when a table is built,
so a request in Chinese gets a Chinese file. Nothing here reads the database or checks access:
the views call the selectors (scoped to the acting post) and hand their answers in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from wangge.cockpit.selectors import KPIS, Kpi, Period
from wangge.core.errors import ValidationError
from wangge.events.enums import Source
from wangge.regions.enums import GridKind

TABLES = ("kpis", "children", "trend", "mix")
FORMATS = ("xlsx", "csv")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"

# A text cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "number"  # text, code (digits kept as text), number, date
    width: int = 12


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)


# --- what to export ----------------------------------------------------------------------------
def export_parse(fmt: str, table: str) -> tuple[str, list[str]]:
    """The format and the tables of an export request: ``table`` is one of ``TABLES`` or
    ``all`` (only in a workbook, one sheet each); empty means ``all`` for xlsx and
    ``children`` for CSV."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ValidationError(
            _("Unknown format %(f)s: use xlsx or csv.") % {"f": fmt[:20]},
            details={"fields": {"format": _("xlsx or csv")}},
        )
    table = (table or "").strip().lower() or ("all" if fmt == "xlsx" else "children")
    if table == "all":
        if fmt != "xlsx":
            raise ValidationError(
                _("A CSV file holds one table: choose kpis, children, trend or mix."),
                details={"fields": {"table": _("one table")}},
            )
        return fmt, list(TABLES)
    if table not in TABLES:
        raise ValidationError(
            _("Unknown table %(t)s: use kpis, children, trend, mix or all.") % {"t": table[:20]},
            details={"fields": {"table": _("unknown table")}},
        )
    return fmt, [table]


def filename(code: str, table: str, period: Period, fmt: str) -> str:
    return f"cockpit-{code}-{table}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.{fmt}"


def title_line(node: Mapping[str, Any], period: Period, made: datetime) -> str:
    """``锦江区 (510104) · 2026-01-01 to 2026-01-30 (30 days) · made 2026-01-31 08:15``."""
    days = ngettext("%(n)s day", "%(n)s days", period.days) % {"n": period.days}
    return _("%(name)s (%(code)s) · %(start)s to %(end)s (%(days)s) · made %(made)s") % {
        "name": node["name"],
        "code": node["code"],
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "days": days,
        "made": made.strftime("%Y-%m-%d %H:%M"),
    }


# --- selector answers → tables -----------------------------------------------------------------
def _unit(k: Kpi) -> str:
    return {"percent": "%", "hours": _("h")}.get(k.kind, "")


def _kpi_header(k: Kpi) -> str:
    unit = _unit(k)
    return f"{k.label} ({unit})" if unit else str(k.label)


def kpis_table(summary: Mapping[str, Any]) -> Table:
    """The node's KPIs: value, previous period and change (rates and their change in percent,
    times in hours; figures of now have no previous period)."""
    t = Table(
        "kpis",
        _("Key figures"),
        [
            Column(_("Figure"), "text", 30),
            Column(_("Value")),
            Column(_("Previous period"), width=16),
            Column(pgettext("difference to the previous period", "Change")),
            Column(pgettext("unit of measure", "Unit"), "text", 8),
        ],
    )
    for k in KPIS:
        v = summary["kpis"][k.key]
        t.rows.append([str(k.label), v["value"], v["previous"], v["change"], _unit(k)])
    return t


def children_table(children: Sequence[Mapping[str, Any]]) -> Table:
    """The ranking: every child with every KPI, in the selector's order."""
    kinds = dict(GridKind.choices)
    with_kind = any(c.get("kind") for c in children)
    cols = [Column(_("Code"), "code", 20), Column(_("Name"), "text", 24)]
    if with_kind:
        cols.append(Column(_("Kind"), "text", 12))
    cols += [Column(_kpi_header(k), width=max(10, min(24, len(_kpi_header(k)) + 2))) for k in KPIS]
    t = Table("children", _("Ranking"), cols)
    for c in children:
        row: list[Any] = [c["code"], c["name"]]
        if with_kind:
            row.append(str(kinds.get(c.get("kind") or "", c.get("kind") or "")))
        row += [c.get(k.key) for k in KPIS]
        t.rows.append(row)
    return t


def trend_table(trend: Mapping[str, list], period: Period | None = None) -> Table:
    """Reported, closed and missed deadlines per day (only the days of ``period`` when given:
    the selector widens short periods to 14 days for the chart)."""
    t = Table(
        "trend",
        _("Trend"),
        [
            Column(_("Date"), "date", 12),
            Column(_("Reported")),
            Column(_("Closed")),
            Column(_("Deadlines missed"), width=16),
        ],
    )
    for i, d in enumerate(trend["days"]):
        day = date.fromisoformat(d)
        if period is not None and not period.start <= day <= period.end:
            continue
        t.rows.append([day, trend["reported"][i], trend["closed"][i], trend["overdue"][i]])
    return t


def share(n: int, total: int) -> float | None:
    return round(100.0 * n / total, 1) if total else None


def mix_table(mix: Mapping[str, list]) -> Table:
    """Reports by major category, then by source, each with its share of all reports."""
    t = Table(
        "mix",
        _("Categories and sources"),
        [
            Column(pgettext("category or source", "Group"), "text", 12),
            Column(_("Name"), "text", 24),
            Column(_("Reported")),
            Column(_("Share (%)")),
        ],
    )
    total = sum(c["n"] for c in mix["categories"])
    for c in mix["categories"]:
        t.rows.append([_("Category"), c["name"], c["n"], share(c["n"], total)])
    total = sum(s["n"] for s in mix["sources"])
    for s in mix["sources"]:
        t.rows.append([_("Source"), source_label(s), s["n"], share(s["n"], total)])
    return t


def source_label(row: Mapping[str, Any]) -> str:
    """A source's name in the active language (the selector's cached answer carries the name
    in the language of whoever asked first)."""
    labels = dict(Source.choices)
    return str(labels[row["source"]]) if row.get("source") in labels else str(row["name"])


# --- tables → files ----------------------------------------------------------------------------
def safe_text(value: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula (CSV/formula injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_cell(value: Any, col: Column) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return safe_text(str(value))


def csv_bytes(table: Table, *, title: str) -> bytes:
    """UTF-8 with a BOM (Excel then reads Chinese right), CRLF lines: the title row, the
    header row, the rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([safe_text(title)])
    w.writerow([c.header for c in table.columns])
    for row in table.rows:
        w.writerow([_csv_cell(v, c) for v, c in zip(row, table.columns, strict=True)])
    return (BOM + buf.getvalue()).encode("utf-8")


def sheet_name(title: str, taken: Iterable[str] = ()) -> str:
    """A valid, unique sheet name (at most 31 characters, none of ``[]:*?/\\``)."""
    name = "".join(ch for ch in title if ch not in "[]:*?/\\").strip("'")[:31] or "Sheet"
    base, i, taken = name, 2, set(taken)
    while name in taken:
        name = f"{base[: 31 - len(str(i)) - 1]}-{i}"
        i += 1
    return name


def workbook_bytes(tables: Sequence[Table], *, title: str) -> bytes:
    """An xlsx with one sheet per table: the title (bold) in A1, the header row below it
    (frozen), then the rows — counts as integers, rates and hours with one decimal, dates as
    dates and codes as text."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = title[:255]
    wb.properties.creator = "wangge"
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="F0F4F8")
    for table in tables:
        ws = wb.create_sheet(sheet_name(table.title, wb.sheetnames))
        ws.cell(row=1, column=1, value=safe_text(title)).font = Font(bold=True, size=12)
        for j, col in enumerate(table.columns, start=1):
            cell = ws.cell(row=2, column=j, value=col.header)
            cell.font, cell.fill = bold, head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.column_dimensions[get_column_letter(j)].width = col.width
        for i, row in enumerate(table.rows, start=3):
            for j, (value, col) in enumerate(zip(row, table.columns, strict=True), start=1):
                _xlsx_cell(ws.cell(row=i, column=j), value, col)
        ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_cell(cell, value: Any, col: Column) -> None:
    if value is None:
        return
    if col.kind in ("code", "text") or isinstance(value, str):
        cell.value = safe_text(str(value))
        cell.data_type = "s"
        if col.kind == "code":
            cell.number_format = "@"
        return
    if isinstance(value, datetime | date):
        cell.value = value
        cell.number_format = "yyyy-mm-dd"
        return
    cell.value = value
    cell.number_format = "0.0" if isinstance(value, float) else "#,##0"
