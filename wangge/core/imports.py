"""What every row-by-row file import shares (people, the grid workforce's rosters …).

A file is CSV (UTF-8) or XLSX with a header row naming the columns (in English or by a
Chinese alias); ``read_rows`` streams it as (row number, values by column). An import checks
every row and reports each problem as a ``RowError`` (row, column, reason); ``ImportResult``
counts what was written and keeps the first ``MAX_KEPT_ERRORS`` errors. With the ``good`` mode
the bad rows go to an ``ErrorFile`` (the original columns plus ``error``) that a clerk fixes and
imports again. Which values a column takes and how rows are written is the importing app's.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from django.utils import translation

MAX_KEPT_ERRORS = 1_000  # the rest are counted (and in the error file), not kept in memory
MODES = ("all", "good")  # all or nothing / the good rows and an error file


@dataclass
class RowError:
    row: int
    column: str
    reason: str


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
        """Count one bad row and keep its errors while there is room."""
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
def choice_labels(enum) -> dict[str, str]:
    """Every way a clerk may write a choice: its code, its English and its Chinese label (and the
    parts of a label written ``"English (中文)"``)."""
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


def cell_text(v: Any) -> str:
    """A spreadsheet cell as the text a clerk sees: whole numbers without ``.0`` (a phone number
    typed into Excel arrives as a float), times as ``YYYY-MM-DD HH:MM:SS``."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v).strip()


def read_rows(path: Path, aliases: Mapping[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, values by column) of a CSV or XLSX file, streamed; row 1 is the header,
    whose names are read through ``aliases`` (e.g. ``{"姓名": "name"}``)."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = wb.active.iter_rows(values_only=True)
            header = [cell_text(c) for c in next(rows, [])]
            names = [aliases.get(h, h) for h in header]
            for n, values in enumerate(rows, start=2):
                yield n, {k: cell_text(v) for k, v in zip(names, values, strict=False)}
        finally:
            wb.close()
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        names = [aliases.get(h.strip(), h.strip()) for h in header]
        for n, values in enumerate(reader, start=2):
            yield n, {k: v.strip() for k, v in zip(names, values, strict=False)}


class ErrorFile:
    """The bad rows with their errors, written as they are found (constant memory), ready to
    be fixed and imported again: ``columns`` as given plus ``error``. Personal numbers are
    written as they were given: the file goes back to the clerk who supplied them. Removed
    again if no row was bad."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.fh = open(self.path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self.w = csv.writer(self.fh)
        self.w.writerow(self.columns + ["error"])
        self.rows = 0

    def write(self, raw: dict[str, str], errs: list[RowError]) -> None:
        self.rows += 1
        self.w.writerow(
            [raw.get(c, "") for c in self.columns]
            + ["; ".join(f"{e.column}: {e.reason}" for e in errs)]
        )

    def close(self) -> None:
        self.fh.close()
        if not self.rows:
            self.path.unlink(missing_ok=True)


class _Invalid(Exception):
    """Raised inside the all-or-nothing transaction to roll it back."""


def rows_import(
    *,
    actor,
    path: Path,
    mode: str,
    aliases: Mapping[str, str],
    columns: list[str] | tuple[str, ...],
    check: Callable[[int, dict[str, str]], tuple[Any, list[RowError]]],
    write: Callable[[Any], None],
    result: ImportResult,
    action: str,
    error_path: Path | None = None,
    progress=None,
    on_failed: Callable[[], None] | None = None,
) -> ImportResult:
    """The two ways an import writes the rows ``check`` accepts (``check(n, raw)`` gives the
    row, with its number as ``row.n``, and its errors; ``write(row)`` stores one):

    - ``all`` (and ``check``, which stops after checking): every row is checked first; then all
      of them are written in one transaction, or none — a row the database refuses at the last
      moment (the data changed since the check) rolls the lot back; ``ValidationError``
      ``import_invalid`` lists the errors, ``on_failed`` runs first;
    - ``good``: row by row, each in a transaction of its own; the bad rows go to the error file.

    The outcome is audited under ``action`` (the file's name, the mode and the counts)."""
    from django.db import transaction
    from django.utils.translation import gettext as _

    from wangge.core import audit
    from wangge.core.errors import ApplicationError, ValidationError

    def record(**kw) -> None:
        details = {"file": Path(path).name, "mode": mode, **result.as_dict()}
        audit.record(actor=actor, action=action, details=details, **kw)

    if mode in ("check", "all"):
        rows = []
        for n, raw in read_rows(path, aliases):
            result.rows += 1
            row, errs = check(n, raw)
            if errs:
                result.add_errors(errs)
            else:
                rows.append(row)
        if mode == "check":
            return result
        try:
            if result.bad_rows:
                raise _Invalid
            with transaction.atomic():
                for row in rows:
                    try:
                        write(row)
                    except ApplicationError as exc:  # the data changed since the check
                        result.add_errors([RowError(row.n, "", exc.message)])
                        raise _Invalid from None
                    if progress:
                        progress.advance()
        except _Invalid:
            if on_failed:
                on_failed()
            record(outcome="failed")
            raise ValidationError(
                _("%(n)d rows have errors; nothing was imported.") % {"n": result.bad_rows},
                code="import_invalid",
                details=[e.__dict__ for e in result.errors],
            ) from None
    else:
        error_file = ErrorFile(Path(error_path), columns) if error_path is not None else None
        try:
            for n, raw in read_rows(path, aliases):
                result.rows += 1
                row, errs = check(n, raw)
                if not errs:
                    try:
                        with transaction.atomic():
                            write(row)
                    except ApplicationError as exc:
                        errs = [RowError(n, "", exc.message)]
                if errs:
                    result.add_errors(errs)
                    if error_file is not None:
                        error_file.write(raw, errs)
                if progress:
                    progress.advance()
        finally:
            if error_file is not None:
                error_file.close()
        if error_file is not None and error_file.rows:
            result.error_file = str(error_path)
    record()
    return result
