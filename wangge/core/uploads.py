"""The page side of a file import (people, the grid workforce's rosters …): the upload is
checked by its content before it is stored, kept only while the import runs, and the rows with
errors are shown masked and offered as a file to the post that uploaded it, in its session.

``FileImport`` holds what differs between imports (the columns, where uploads go, the session
key of the error files); the functions do the rest. Nothing here knows what a row means.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.utils.translation import gettext as _

from wangge.core.masking import mask_id_number, mask_phone

ERROR_FILE_HOURS = 24  # error files older than this are removed at the next upload
ERROR_FILES_KEPT = 5  # error-file download tokens a session keeps per import
ERRORS_SHOWN = 50


@dataclass(frozen=True)
class FileImport:
    """What one kind of import declares for its pages."""

    name: str  # the directory under ``DATA_DIR/uploads`` (e.g. ``people-imports``)
    required: tuple[str, ...]  # columns the header row must name
    aliases: Mapping[str, str] = field(default_factory=dict)  # Chinese header → column
    session_key: str = ""  # where the session keeps the error files' download tokens
    # A column whose long digit runs are place codes, not personal numbers (kept readable
    # in error messages when ``is_code`` says so).
    code_column: str = ""
    is_code: Callable[[str], bool] | None = None

    @property
    def chinese(self) -> dict[str, str]:
        """Column → its Chinese header (the first of its aliases)."""
        out: dict[str, str] = {}
        for zh, code in self.aliases.items():
            out.setdefault(code, zh)
        return out


class SizeLimit(FileUploadHandler):
    """Stops taking a file past ``max_bytes``: the rest is read and dropped, never stored, and
    the view is told (``too_large``)."""

    def __init__(self, request=None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.max_bytes:
            self.too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


def too_large(request) -> bool:
    return any(getattr(h, "too_large", False) for h in request.upload_handlers)


def upload_dir(spec: FileImport) -> Path:
    d = Path(settings.DATA_DIR) / "uploads" / spec.name
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def sweep(directory: Path, *, hours: float = ERROR_FILE_HOURS) -> None:
    """Remove error files (and uploads left by a crash) older than ``hours``."""
    limit = time.time() - hours * 3600
    for p in directory.iterdir():
        try:
            if p.is_file() and p.stat().st_mtime < limit:
                p.unlink()
        except OSError:
            pass


def header_problem(spec: FileImport, header: Iterable) -> str:
    """A message when the header row lacks a required column, else ``""``."""
    names = {spec.aliases.get(str(h or "").strip(), str(h or "").strip()) for h in header}
    missing = [c for c in spec.required if c not in names]
    if not missing:
        return ""
    chinese = spec.chinese
    return _(
        "The first row must name the columns; missing: %(columns)s. Download the template."
    ) % {"columns": ", ".join(f"{chinese.get(c, c)} ({c})" for c in missing)}


def check_upload(spec: FileImport, f, *, max_unpacked: int) -> tuple[str, str]:
    """``(".csv" or ".xlsx", "")`` for an upload whose content is a CSV (UTF-8) or an XLSX
    workbook (unpacking to at most ``max_unpacked`` bytes) with the import's header row, else
    ``("", message)``. The file's name and the client's content type are not consulted."""
    f.seek(0)
    head = f.read(65536)
    f.seek(0)
    if not head:
        return "", _("The file is empty.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "", _("This is an old Excel file (.xls): save it as .xlsx or as CSV UTF-8.")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(f) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "", _("The file is neither CSV nor XLSX.")
        finally:
            f.seek(0)
        names = {i.filename for i in infos}
        if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
            return "", _("The file is neither CSV nor XLSX.")
        if sum(i.file_size for i in infos) > max_unpacked:
            return "", _("The workbook unpacks to too much data; split it into several files.")
        return ".xlsx", ""
    if b"\x00" in head:
        return "", _("The file is neither CSV nor XLSX.")
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        try:
            gbk = codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        except UnicodeDecodeError:
            gbk = ""
        if gbk and not header_problem(spec, _first_row(gbk)):
            return "", _(
                "The CSV file is not in UTF-8 (it looks like GBK): in Excel save it as "
                "“CSV UTF-8 (comma delimited)”, or upload the .xlsx."
            )
        return "", _("The file is neither CSV nor XLSX.")
    problem = header_problem(spec, _first_row(text))
    return ("", problem) if problem else (".csv", "")


def _first_row(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])


def xlsx_header_problem(spec: FileImport, path: Path) -> str:
    """``header_problem`` of a stored workbook's first row (or that it is no workbook)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            row = next(wb.active.iter_rows(max_row=1, values_only=True), ())
        finally:
            wb.close()
    except Exception:  # noqa: BLE001 — any failure to read it means it is no workbook we take
        return _("The file is neither CSV nor XLSX.")
    return header_problem(spec, list(row))


_DIGIT_RUN = re.compile(r"\+?\d[\d \-]{5,}\d[Xx]?|\d{17}[Xx]")


def masked_reason(spec: FileImport, column: str, text: str) -> str:
    """An error message with every run of seven or more digits masked as an ID number (18
    characters) or a phone: a value a clerk put in the wrong column is not shown in full. A
    place code in the import's code column stays readable."""

    def repl(m: re.Match) -> str:
        run = m.group(0)
        digits = sum(ch.isdigit() for ch in run)
        if digits < 7:
            return run
        if column == spec.code_column and spec.is_code is not None and spec.is_code(run):
            return run
        return mask_id_number(run) if digits >= 17 else mask_phone(run)

    return _DIGIT_RUN.sub(repl, str(text))


def error_rows(spec: FileImport, errors, *, shown: int = ERRORS_SHOWN) -> list[dict]:
    """The first ``shown`` errors (``RowError`` or their dicts) for a page, reasons masked."""
    out = []
    for e in list(errors)[:shown]:
        e = e if isinstance(e, dict) else e.__dict__
        out.append(
            {
                "row": e["row"],
                "column": e["column"],
                "reason": masked_reason(spec, e["column"], e["reason"]),
            }
        )
    return out


def save_upload(f, path: Path) -> None:
    """Store the upload at ``path`` (created, mode 0600; never over an existing file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in f.chunks():
            out.write(chunk)


def new_paths(spec: FileImport, suffix: str) -> tuple[Path, Path]:
    """A fresh (upload, error file) pair in the import's directory, old files swept first."""
    directory = upload_dir(spec)
    sweep(directory)
    name = secrets.token_hex(16)
    return directory / f"{name}{suffix}", directory / f"{name}.errors.csv"


def remember_error_file(spec: FileImport, request, path: Path) -> str:
    """A download token for the error file, good for this post in this session."""
    token = secrets.token_urlsafe(18)
    kept = dict(request.session.get(spec.session_key, {}))
    kept[token] = {"path": str(path), "post": request.post.pk}
    request.session[spec.session_key] = dict(list(kept.items())[-ERROR_FILES_KEPT:])
    return token


def error_file(spec: FileImport, request, token: str) -> Path | None:
    """The error file behind ``token`` if this session's active post uploaded it, else None."""
    post = request.post
    entry = request.session.get(spec.session_key, {}).get(token)
    if not entry or post is None or entry.get("post") != post.pk:
        return None
    path = Path(entry["path"])
    if path.parent != upload_dir(spec) or not path.is_file():
        return None
    return path


def template_csv(spec: FileImport, columns: list[str], *, chinese: bool) -> str:
    """An empty CSV with the import's header row (Chinese or English), with a BOM for Excel."""
    buf = io.StringIO()
    buf.write("\ufeff")
    names = spec.chinese
    csv.writer(buf).writerow([names.get(c, c) if chinese else c for c in columns])
    return buf.getvalue()


def too_large_message(max_bytes: int) -> str:
    return _("The file is larger than %(mb)d MB; split it into several files.") % {
        "mb": max_bytes // (1024 * 1024)
    }


def run_import(
    spec: FileImport,
    request,
    importer: Callable,
    *,
    mode: str,
    modes: Iterable,
    max_bytes: int,
    max_unpacked: int,
    shown: int = ERRORS_SHOWN,
) -> dict:
    """Check, save, import (``importer(actor=, path=, mode=, error_path=)``) and forget the
    upload; the page's context for the outcome: a ``problem`` with masked row ``errors``, or
    the ``result`` with the rows in error and a token for the error file."""
    from django.http import Http404

    from wangge.core.errors import ApplicationError

    f = request.FILES.get("file")
    if too_large(request):
        return {"problem": too_large_message(max_bytes)}
    if f is None:
        return {"problem": _("Choose a CSV or XLSX file.")}
    if mode not in dict(modes):
        return {"problem": _("Choose how to import.")}
    suffix, problem = check_upload(spec, f, max_unpacked=max_unpacked)
    if problem:
        return {"problem": problem}
    path, error_path = new_paths(spec, suffix)
    save_upload(f, path)
    try:
        if suffix == ".xlsx" and (problem := xlsx_header_problem(spec, path)):
            return {"problem": problem}
        result = importer(actor=request.post, path=path, mode=mode, error_path=error_path)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        details = exc.details if isinstance(exc.details, list) else []
        return {
            "problem": exc.message,
            "errors": error_rows(spec, details, shown=shown),
            "more_errors": max(0, len(details) - shown),
        }
    finally:
        path.unlink(missing_ok=True)  # the clerk's file holds full personal numbers: not kept
    token = ""
    if result.error_file and Path(result.error_file).is_file():
        token = remember_error_file(spec, request, Path(result.error_file))
    return {
        "result": result.as_dict(),
        "errors": error_rows(spec, result.errors, shown=shown),
        "more_errors": max(0, result.bad_rows - shown),
        "error_token": token,
    }


def error_file_response(
    spec: FileImport,
    request,
    token: str,
    *,
    allowed: bool,
    action: str,
    object_type: str,
    filename: str,
):
    """The error file of an import, for the post that uploaded it, in the session it did
    (``allowed``: the post may still import); audited. 404 otherwise."""
    from django.http import FileResponse, Http404

    from wangge.core import audit

    path = error_file(spec, request, token)
    if path is None or not allowed:
        raise Http404
    audit.record(
        actor=request.post,
        action=action,
        object_type=object_type,
        details={"file": path.name},
        request=request,
    )
    resp = FileResponse(
        open(path, "rb"),  # noqa: SIM115 — closed by the response
        as_attachment=True,
        filename=filename,
        content_type="text/csv; charset=utf-8",
    )
    resp["Cache-Control"] = "no-store"
    return resp


def template_response(spec: FileImport, columns: list[str], *, filename: str):
    """An empty CSV with the import's header row (Chinese or English, as the page is shown)."""
    from django.http import HttpResponse
    from django.utils.translation import get_language

    chinese = (get_language() or "").startswith("zh")
    resp = HttpResponse(
        template_csv(spec, columns, chinese=chinese), content_type="text/csv; charset=utf-8"
    )
    resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
