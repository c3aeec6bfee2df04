"""Pages of person–house data: search, a resident's page with per-field unmasking, the import
upload (with its error file) and the export."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.core import uploads
from wangge.core.errors import ApplicationError, NotFound
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


def _place_code_not_id(run: str) -> bool:
    """A grid code in a grid-code error stays readable: a valid place code that is not also a
    valid ID number."""
    if not C.is_valid(run):
        return False
    try:
        validate_id_number(run)
    except IdNumberError:
        return True
    return False


UPLOAD = uploads.FileImport(
    name="people-imports",
    required=REQUIRED,
    aliases=HEADER_ALIASES,
    session_key="wangge_people_import_errors",  # download token → error file and post
    code_column="grid_code",
    is_code=_place_code_not_id,
)


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
        request.upload_handlers.insert(0, uploads.SizeLimit(request, max_bytes=MAX_UPLOAD_BYTES))
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
    return uploads.run_import(
        UPLOAD,
        request,
        people_import,
        mode=mode,
        modes=MODES,
        max_bytes=MAX_UPLOAD_BYTES,
        max_unpacked=MAX_UNPACKED_BYTES,
        shown=ERRORS_SHOWN,
    )


def _too_large() -> str:
    return uploads.too_large_message(MAX_UPLOAD_BYTES)


def _column_help() -> list[dict]:
    rows = []
    chinese = UPLOAD.chinese
    for code, required, text in COLUMN_HELP:
        if code in _CHOICE_COLUMNS:
            text = _("One of: %(values)s") % {
                "values": "、".join(str(label) for _v, label in _CHOICE_COLUMNS[code].choices)
            }
        rows.append(
            {"code": code, "chinese": chinese.get(code, ""), "required": required, "text": text}
        )
    return rows


def import_errors(request, token: str):
    """The error file of an import, for the post that uploaded it, in the session it did."""
    return uploads.error_file_response(
        UPLOAD,
        request,
        token,
        allowed=has_perm(request.post, Perm.PEOPLE_EDIT),
        action="people.import_errors",
        object_type="people.resident",
        filename="import-errors.csv",
    )


def import_template(request):
    """An empty CSV with the import's header row (Chinese or English, as the page is shown)."""
    if not has_perm(request.post, Perm.PEOPLE_EDIT):
        raise Http404
    return uploads.template_response(UPLOAD, COLUMNS, filename="residents-template.csv")


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
