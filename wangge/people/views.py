"""Pages of person–house data: search, a resident's page with per-field unmasking, the import
upload (with its error file) and the export."""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import secrets
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import ApplicationError, NotFound
from wangge.core.masking import mask_id_number, mask_phone
from wangge.people import selectors, services
from wangge.people.enums import CareLevel, HouseUse, PersonalField, Registration, Relation
from wangge.people.idcard import IdNumberError, validate_id_number
from wangge.people.imports import COLUMNS, HEADER_ALIASES, REQUIRED, people_export, people_import
from wangge.people.text import is_exact_query
from wangge.regions import codes as C


def search(request):
    post = request.post
    # ID and phone numbers are searched by POST so they never stand in a URL (browser history,
    # proxy logs); names and addresses by GET, so result pages can be linked and paged.
    if request.method == "POST":
        q = request.POST.get("q", "").strip()
        if not is_exact_query(q):
            return redirect(f"{reverse('people:search')}?{urlencode({'q': q})}")
    else:
        q = request.GET.get("q", "").strip()
        if is_exact_query(q):
            q = ""
    filters = {"care_level": request.GET.get("care_level", ""), "tag": request.GET.get("tag", "")}
    try:
        qs = (
            selectors.resident_search(actor=post, q=q)
            if q
            else selectors.resident_list(actor=post, filters=filters)
        )
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404 from None
        messages.error(request, exc.message)
        qs = selectors.resident_list(actor=post, filters={})
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    if is_exact_query(query.get("q", "")):
        query.pop("q")
    return render(
        request,
        "people/search.html",
        {
            "page": page,
            "views": selectors.resident_views(actor=post, residents=page.object_list),
            "q": "" if is_exact_query(q) else q,  # a typed ID or phone is not echoed back
            "filters": filters,
            "query": query.urlencode(),
            "levels": CareLevel.choices,
            "tags": selectors.visible_tags(actor=post),
            "may_import": has_perm(post, Perm.PEOPLE_EDIT),
        },
    )


def detail(request, resident_id: int):
    post = request.post
    try:
        r = selectors.resident_get(actor=post, resident_id=resident_id)
    except (NotFound, ApplicationError):
        raise Http404 from None
    revealed = None
    if request.method == "POST":
        try:
            value = services.resident_unmask(
                actor=post,
                resident=r,
                field=request.POST.get("field", ""),
                reason=request.POST.get("reason", ""),
                ref=request.POST.get("ref", ""),
                request=request,
            )
            revealed = {"field": PersonalField(request.POST["field"]).label, "value": value}
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return render(
        request,
        "people/detail.html",
        {
            "r": selectors.resident_view(actor=post, resident=r),
            "household": selectors.household(actor=post, resident=r),
            "history": selectors.care_history(actor=post, resident=r),
            "revealed": revealed,
            "fields": PersonalField.choices,
            "reason": request.POST.get("reason", ""),
            "ref": request.POST.get("ref", ""),
        },
    )


# --- import ---------------------------------------------------------------------------------
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# An XLSX is a zip: what its members say they unpack to is bounded too (a "zip bomb").
MAX_UNPACKED_BYTES = 20 * MAX_UPLOAD_BYTES
ERRORS_SHOWN = 50
ERROR_FILE_HOURS = 24  # error files older than this are removed at the next upload
SESSION_ERROR_FILES = "wangge_people_import_errors"  # download token → error file and post
SESSION_ERROR_FILES_KEPT = 5
MODES = [
    ("all", gettext_lazy("All or nothing: import only if every row is good")),
    ("good", gettext_lazy("Import the good rows and give me a file of the bad ones")),
]
# (column, required, what goes in it)
COLUMN_HELP = [
    ("grid_code", True, gettext_lazy("Code of the (micro-)grid, e.g. 510104017001001001")),
    ("address", True, gettext_lazy("Full address of the building; a new address adds one")),
    ("building", False, gettext_lazy("Building name (default: the end of the address)")),
    ("unit", False, gettext_lazy("Unit (单元) number")),
    ("floor", False, gettext_lazy("Floor, a whole number (default 1)")),
    ("room", True, gettext_lazy("Room number")),
    ("house_use", False, None),
    ("name", True, gettext_lazy("Full name of the resident")),
    ("id_number", False, gettext_lazy("18-character ID number; the same person is updated")),
    ("phone", False, gettext_lazy("Phone number, 7 to 12 digits")),
    ("registration", False, None),
    ("relation", False, None),
    ("moved_in", False, gettext_lazy("Date moved in, YYYY-MM-DD")),
    ("lon", False, gettext_lazy("Longitude of the building (default: the grid's centre)")),
    ("lat", False, gettext_lazy("Latitude of the building (default: the grid's centre)")),
]
_CHOICE_COLUMNS = {"house_use": HouseUse, "registration": Registration, "relation": Relation}
_CHINESE_HEADERS = {code: zh for zh, code in HEADER_ALIASES.items()}


class _SizeLimit(FileUploadHandler):
    """Stops taking a file past ``MAX_UPLOAD_BYTES``: the rest is read and dropped, never
    stored, and the view is told (``too_large``)."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > MAX_UPLOAD_BYTES:
            self.too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


def _upload_dir() -> Path:
    d = Path(settings.DATA_DIR) / "uploads" / "people-imports"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _sweep(directory: Path) -> None:
    """Remove error files (and uploads left by a crash) older than ``ERROR_FILE_HOURS``."""
    limit = time.time() - ERROR_FILE_HOURS * 3600
    for p in directory.iterdir():
        try:
            if p.is_file() and p.stat().st_mtime < limit:
                p.unlink()
        except OSError:
            pass


def _header_problem(header: list) -> str:
    """A message when the header row lacks a required column, else ``""``."""
    names = {HEADER_ALIASES.get(str(h or "").strip(), str(h or "").strip()) for h in header}
    missing = [c for c in REQUIRED if c not in names]
    if not missing:
        return ""
    return _(
        "The first row must name the columns; missing: %(columns)s. Download the template."
    ) % {"columns": ", ".join(f"{_CHINESE_HEADERS.get(c, c)} ({c})" for c in missing)}


def _check_upload(f) -> tuple[str, str]:
    """``(".csv" or ".xlsx", "")`` for an upload whose content is a CSV (UTF-8) or an XLSX
    workbook with the import's header row, else ``("", message)``. The file's name and the
    client's content type are not consulted."""
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
        if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
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
        if gbk and not _header_problem(_first_row(gbk)):
            return "", _(
                "The CSV file is not in UTF-8 (it looks like GBK): in Excel save it as "
                "“CSV UTF-8 (comma delimited)”, or upload the .xlsx."
            )
        return "", _("The file is neither CSV nor XLSX.")
    problem = _header_problem(_first_row(text))
    return ("", problem) if problem else (".csv", "")


def _first_row(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])


def _xlsx_header_problem(path: Path) -> str:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            row = next(wb.active.iter_rows(max_row=1, values_only=True), ())
        finally:
            wb.close()
    except Exception:  # noqa: BLE001 — any failure to read it means it is no workbook we take
        return _("The file is neither CSV nor XLSX.")
    return _header_problem(list(row))


_DIGIT_RUN = re.compile(r"\+?\d[\d \-]{5,}\d[Xx]?|\d{17}[Xx]")


def _masked_reason(column: str, text: str) -> str:
    """An error message with every run of seven or more digits masked as an ID number (18
    characters) or a phone: a value a clerk put in the wrong column is not shown in full. A
    place code in a grid-code error stays readable."""

    def repl(m: re.Match) -> str:
        run = m.group(0)
        digits = sum(ch.isdigit() for ch in run)
        if digits < 7:
            return run
        if column == "grid_code" and C.is_valid(run):
            try:
                validate_id_number(run)
            except IdNumberError:
                return run  # a place code, not a person's number
        return mask_id_number(run) if digits >= 17 else mask_phone(run)

    return _DIGIT_RUN.sub(repl, str(text))


def _error_rows(errors) -> list[dict]:
    out = []
    for e in errors[:ERRORS_SHOWN]:
        e = e if isinstance(e, dict) else e.__dict__
        out.append(
            {
                "row": e["row"],
                "column": e["column"],
                "reason": _masked_reason(e["column"], e["reason"]),
            }
        )
    return out


def _save_upload(f, path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in f.chunks():
            out.write(chunk)


def _remember_error_file(request, path: Path) -> str:
    token = secrets.token_urlsafe(18)
    kept = dict(request.session.get(SESSION_ERROR_FILES, {}))
    kept[token] = {"path": str(path), "post": request.post.pk}
    request.session[SESSION_ERROR_FILES] = dict(list(kept.items())[-SESSION_ERROR_FILES_KEPT:])
    return token


@csrf_exempt  # the size limit must be in place before the body is parsed; CSRF is checked below
def import_page(request):
    """Upload a CSV or XLSX of residents, import it, show the result and the first errors."""
    if not has_perm(request.post, Perm.PEOPLE_EDIT):
        raise Http404
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_UPLOAD_BYTES + 1024 * 1024:  # refused unread: nothing is changed
            return _import_render(request, "all", {"problem": _too_large()})
        request.upload_handlers.insert(0, _SizeLimit(request))
    return _import_page(request)


@csrf_protect
def _import_page(request):
    if request.method != "POST":
        return _import_render(request, "all", {})
    mode = request.POST.get("mode", "all")
    return _import_render(request, mode, _run_import(request, mode))


def _import_render(request, mode: str, outcome: dict):
    ctx = {
        "mode": mode,
        "modes": MODES,
        "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        "columns": _column_help(),
        **outcome,
    }
    return render(request, "people/import.html", ctx)


def _run_import(request, mode: str) -> dict:
    """Check, save, import and forget the upload; the page's context for the outcome."""
    f = request.FILES.get("file")
    if any(getattr(h, "too_large", False) for h in request.upload_handlers):
        return {"problem": _too_large()}
    if f is None:
        return {"problem": _("Choose a CSV or XLSX file.")}
    if mode not in dict(MODES):
        return {"problem": _("Choose how to import.")}
    suffix, problem = _check_upload(f)
    if problem:
        return {"problem": problem}
    directory = _upload_dir()
    _sweep(directory)
    name = secrets.token_hex(16)
    path = directory / f"{name}{suffix}"
    error_path = directory / f"{name}.errors.csv"
    _save_upload(f, path)
    try:
        if suffix == ".xlsx" and (problem := _xlsx_header_problem(path)):
            return {"problem": problem}
        result = people_import(actor=request.post, path=path, mode=mode, error_path=error_path)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        return {
            "problem": exc.message,
            "errors": _error_rows(exc.details or []) if isinstance(exc.details, list) else [],
            "more_errors": max(0, len(exc.details or []) - ERRORS_SHOWN)
            if isinstance(exc.details, list)
            else 0,
        }
    finally:
        path.unlink(missing_ok=True)  # the clerk's file holds full numbers: not kept
    token = ""
    if result.error_file and Path(result.error_file).is_file():
        token = _remember_error_file(request, Path(result.error_file))
    return {
        "result": result.as_dict(),
        "errors": _error_rows(result.errors),
        "more_errors": max(0, result.bad_rows - ERRORS_SHOWN),
        "error_token": token,
    }


def _too_large() -> str:
    return _("The file is larger than %(mb)d MB; split it into several files.") % {
        "mb": MAX_UPLOAD_BYTES // (1024 * 1024)
    }


def _column_help() -> list[dict]:
    rows = []
    for code, required, text in COLUMN_HELP:
        if code in _CHOICE_COLUMNS:
            text = _("One of: %(values)s") % {
                "values": "、".join(str(label) for _v, label in _CHOICE_COLUMNS[code].choices)
            }
        rows.append(
            {
                "code": code,
                "chinese": _CHINESE_HEADERS.get(code, ""),
                "required": required,
                "text": text,
            }
        )
    return rows


def import_errors(request, token: str):
    """The error file of an import, for the post that uploaded it, in the session it did."""
    post = request.post
    entry = request.session.get(SESSION_ERROR_FILES, {}).get(token)
    if not entry or post is None or entry.get("post") != post.pk:
        raise Http404
    path = Path(entry["path"])
    if path.parent != _upload_dir() or not path.is_file() or not has_perm(post, Perm.PEOPLE_EDIT):
        raise Http404
    audit.record(
        actor=post,
        action="people.import_errors",
        object_type="people.resident",
        details={"file": path.name},
        request=request,
    )
    resp = FileResponse(
        open(path, "rb"),  # noqa: SIM115 — closed by the response
        as_attachment=True,
        filename="import-errors.csv",
        content_type="text/csv; charset=utf-8",
    )
    resp["Cache-Control"] = "no-store"
    return resp


def import_template(request):
    """An empty CSV with the import's header row (Chinese or English, as the page is shown)."""
    if not has_perm(request.post, Perm.PEOPLE_EDIT):
        raise Http404
    chinese = (get_language() or "").startswith("zh")
    buf = io.StringIO()
    buf.write("\ufeff")
    csv.writer(buf).writerow([_CHINESE_HEADERS.get(c, c) if chinese else c for c in COLUMNS])
    resp = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = 'attachment; filename="residents-template.csv"'
    return resp


# --- export ---------------------------------------------------------------------------------
def export(request):
    """Export the residents under a place as CSV: masked, or unmasked with a reason by a post
    that may unmask. Audited."""
    post = request.post
    if not has_perm(post, Perm.PEOPLE_VIEW):
        raise Http404
    ctx = {
        "code": ctx_root(post),
        "unmasked": False,
        "reason": "",
        "may_unmask": has_perm(post, Perm.PEOPLE_UNMASK),
    }
    if request.method == "POST":
        ctx.update(
            code=request.POST.get("code", "").strip(),
            unmasked=request.POST.get("unmasked") == "on",
            reason=request.POST.get("reason", "").strip(),
        )
        try:
            lines = people_export(
                actor=post,
                code=ctx["code"],
                unmasked=ctx["unmasked"],
                reason=ctx["reason"],
                request=request,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            code = C.normalize(ctx["code"]) or ctx_root(post)
            return csv_response(lines, code=code, unmasked=ctx["unmasked"])
    return render(request, "people/export.html", ctx)


def ctx_root(post) -> str:
    return scope_for(post).root or ""


def csv_response(lines, *, code: str, unmasked: bool) -> StreamingHttpResponse:
    resp = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    suffix = "-unmasked" if unmasked else ""
    resp["Content-Disposition"] = f'attachment; filename="residents-{code}{suffix}.csv"'
    resp["Cache-Control"] = "no-store"
    return resp
