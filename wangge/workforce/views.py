"""Pages of the grid workforce: the worker list and a worker's profile, a place's team, the
coverage report (with assigning a worker to a place that lacks one, right from the report),
the phone page for duty and the patrol route, a duty session's map, the roster import and the
units. Parse → call a service or selector → render; every error of a service is shown, and
anything outside the post's scope answers 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.core import uploads
from wangge.core.errors import ApplicationError
from wangge.people.text import PHONE_RE, compact_query
from wangge.regions import codes as C
from wangge.workforce import selectors, services
from wangge.workforce.enums import AssignmentRole, Skill, WorkerKind, WorkerStatus
from wangge.workforce.imports import COLUMNS, UPLOAD, roster_import


def _or_404(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404 from None
        raise


def _need(ok: bool) -> None:
    if not ok:
        raise Http404


def _next(request, default: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    ok = nxt.startswith("/") and url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return nxt if ok else default


def _query(request, *drop: str) -> str:
    q = request.GET.copy()
    for k in ("page", *drop):
        q.pop(k, None)
    return q.urlencode()


def _is_phone(q: str) -> bool:
    """Whether a search text is a phone number (searched by its blind index, never in a URL)."""
    return bool(PHONE_RE.match(compact_query(q)))


def _may_manage(post) -> bool:
    return has_perm(post, Perm.WORKFORCE_MANAGE)


# --- the worker list and a worker's page ----------------------------------------------------------
def worker_list(request):
    post = request.post
    _need(has_perm(post, Perm.WORKFORCE_VIEW))
    # A phone number is searched by POST so that it never stands in a URL (browser history,
    # proxy logs) and is not written back into the page; names by GET, so pages can be linked.
    if request.method == "POST":
        q = request.POST.get("q", "").strip()
        if not _is_phone(q):
            return redirect(f"{reverse('workforce:list')}?{urlencode({'q': q})}")
    else:
        q = request.GET.get("q", "").strip()
        if _is_phone(q):
            q = ""
    filters = {k: request.GET.get(k, "").strip() for k in ("kind", "status", "grid", "skill")}
    filters["q"] = q
    try:
        qs = selectors.worker_list(actor=post, filters=filters)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        qs = selectors.worker_list(actor=post, filters={})
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    if _is_phone(query.get("q", "")):
        query.pop("q")
    return render(
        request,
        "workforce/list.html",
        {
            "page": page,
            "views": selectors.worker_views(actor=post, workers=page.object_list),
            "filters": {**filters, "q": "" if _is_phone(q) else q},
            "query": query.urlencode(),
            "kinds": WorkerKind.choices,
            "statuses": [*WorkerStatus.choices, ("all", _("Everyone, also those who left"))],
            "skills": Skill.choices,
            "may_manage": _may_manage(post),
            "root": scope_for(post).root or "",
        },
    )


def worker_detail(request, worker_id: int):
    post = request.post
    _need(has_perm(post, Perm.WORKFORCE_VIEW))
    w = _or_404(selectors.worker_get, actor=post, worker_id=worker_id)
    view = selectors.worker_view(actor=post, worker=w)
    history = list(selectors.assignment_list(actor=post, worker=w)[:100])
    names = _place_names([a.place_code for a in history])
    for a in history:
        a.place_name = names.get(a.place_code, a.place_code)
    places = []
    for p in view.places:
        cands = []
        if _may_manage(post):
            try:
                cands = selectors.assign_candidates(actor=post, code=p.code, kind=w.kind)[:50]
            except ApplicationError:
                cands = []
        places.append((p, cands))
    return render(
        request,
        "workforce/detail.html",
        {
            "w": view,
            "worker": w,
            "history": history,
            "handovers": list(selectors.handover_list(actor=post, worker=w)[:30]),
            "duty": list(selectors.duty_list(actor=post, worker=w)[:15]),
            "work": selectors.recent_work(actor=post, worker=w),
            "may_manage": _may_manage(post),
            "places": places,
            "statuses": WorkerStatus.choices,
            "roles": AssignmentRole.choices,
        },
    )


def _place_names(codes) -> dict[str, str]:
    from wangge.verification.labels import place_names

    return place_names(sorted(set(codes)))


@require_POST
def worker_status(request, worker_id: int):
    post = request.post
    w = _or_404(selectors.worker_get, actor=post, worker_id=worker_id)
    back = reverse("workforce:worker", args=[w.pk])
    try:
        services.worker_status_set(
            actor=post,
            worker=w,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, _("The status of %(name)s is changed.") % {"name": w.name})
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        messages.error(request, exc.message)
    return redirect(back)


@require_POST
def assignment_end(request, assignment_id: int):
    """Hand a place over: to the successor chosen, or to the community."""
    post = request.post
    a = _or_404(selectors.assignment_get, actor=post, assignment_id=assignment_id)
    back = _next(request, reverse("workforce:worker", args=[a.worker_id]))
    successor = None
    if request.POST.get("successor"):
        successor = _or_404(selectors.worker_get, actor=post, worker_id=request.POST["successor"])
    try:
        h = services.assignment_end(
            actor=post, assignment=a, successor=successor, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        messages.error(request, exc.message)
        return redirect(back)
    n = h.tasks.count()
    if successor is not None:
        messages.success(
            request,
            _("%(place)s is handed over to %(name)s, with %(n)d open households to visit.")
            % {"place": a.place_code, "name": successor.name, "n": n},
        )
    else:
        messages.success(
            request,
            _("%(place)s is handed back to the community, with %(n)d open households to visit.")
            % {"place": a.place_code, "n": n},
        )
    return redirect(back)


@require_POST
def assign(request):
    """Assign a worker to a place (from the coverage report or a team page)."""
    post = request.post
    code = C.normalize(request.POST.get("code", ""))
    back = _next(request, f"{reverse('workforce:coverage')}?code={code[:12]}")
    if not request.POST.get("worker"):
        messages.error(request, _("Choose a worker."))
        return redirect(back)
    w = _or_404(selectors.worker_get, actor=post, worker_id=request.POST.get("worker"))
    try:
        services.assignment_start(
            actor=post, worker=w, place_code=code, role=request.POST.get("role") or None
        )
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(
        request, _("%(name)s is assigned to %(place)s.") % {"name": w.name, "place": code}
    )
    return redirect(back)


# --- a place's team and the coverage report -------------------------------------------------------
def team(request, code: str):
    post = request.post
    _need(has_perm(post, Perm.WORKFORCE_VIEW))
    t = _or_404(selectors.team, actor=post, code=code)
    candidates = []
    if _may_manage(post) and t.primary is None and len(t.place.code) >= 15:
        candidates = _or_404(selectors.assign_candidates, actor=post, code=t.place.code)
    parent = C.parent_code(t.place.code)
    return render(
        request,
        "workforce/team.html",
        {
            "t": t,
            "candidates": candidates,
            "may_manage": _may_manage(post),
            "up": parent if parent and scope_for(post).covers(parent) else "",
            "is_grid": len(t.place.code) >= 15,
            "here": request.get_full_path(),
        },
    )


def coverage(request):
    post = request.post
    _need(has_perm(post, Perm.WORKFORCE_VIEW))
    code = C.normalize(request.GET.get("code", "")) or (scope_for(post).root or "")
    cov = _or_404(selectors.coverage, actor=post, code=code)
    gaps = Paginator(cov.gaps, 50).get_page(request.GET.get("page"))
    # the candidates for a place are those of its community and of its kind (micro-grid or grid)
    candidates: dict[tuple[str, bool], list] = {}
    if _may_manage(post):
        for g in gaps:
            key = (g.community, len(g.code) == 18)
            if key not in candidates:
                candidates[key] = _or_404(selectors.assign_candidates, actor=post, code=g.code)[:50]
    parent = C.parent_code(code)
    return render(
        request,
        "workforce/coverage.html",
        {
            "cov": cov,
            "gaps": gaps,
            "gap_rows": [(g, candidates.get((g.community, len(g.code) == 18), [])) for g in gaps],
            "may_manage": _may_manage(post),
            "up": parent if parent and scope_for(post).covers(parent) else "",
            "query": _query(request),
            "here": request.get_full_path(),
            "kinds": dict(WorkerKind.choices),
        },
    )


# --- duty: the phone page and a session's map -----------------------------------------------------
def phone(request):
    """Check in and out with the phone's position; the patrol route while on duty."""
    post = request.post
    _need(has_perm(post, Perm.DUTY_CHECKIN))
    me = selectors.worker_me(actor=post)
    if request.method == "POST":
        return _phone_post(request, post)
    current = selectors.duty_current(actor=post)
    recent = list(selectors.duty_list(actor=post, worker=me)[:7]) if me else []
    return render(
        request,
        "workforce/phone.html",
        {
            "me": me,
            "view": selectors.worker_view(actor=post, worker=me)
            if me and has_perm(post, Perm.WORKFORCE_VIEW)
            else None,
            "current": current,
            "recent": recent,
            "key": uuid.uuid4().hex,
            "place": post.place_code,
            "place_name": _place_names([post.place_code]).get(post.place_code, ""),
        },
    )


def _phone_post(request, post):
    P = request.POST
    action = P.get("action", "")
    try:
        if action == "check_in":
            s, created = services.duty_check_in(
                actor=post,
                lon=P.get("lon", "").strip() or None,
                lat=P.get("lat", "").strip() or None,
                accuracy=P.get("accuracy", "").strip() or None,
                key=P.get("key", ""),
            )
            if s.start_far:
                messages.warning(
                    request,
                    _(
                        "Checked in. You are %(m)d m outside your place: the check-in is "
                        "recorded, and marked as far."
                    )
                    % {"m": round(s.start_distance_m or 0)},
                )
            elif created:
                messages.success(request, _("Checked in. Have a good patrol."))
            if s.start_distance_m is None:
                messages.info(request, _("The phone gave no position: none was recorded."))
        elif action == "check_out":
            s = _or_404(selectors.duty_get, actor=post, session_id=P.get("session"))
            s = services.duty_check_out(
                actor=post,
                session=s,
                lon=P.get("lon", "").strip() or None,
                lat=P.get("lat", "").strip() or None,
                accuracy=P.get("accuracy", "").strip() or None,
            )
            if s.end_far:
                messages.warning(
                    request,
                    _("Checked out, %(m)d m outside your place (marked as far).")
                    % {"m": round(s.end_distance_m or 0)},
                )
            else:
                messages.success(request, _("Checked out."))
        else:
            messages.error(request, _("Choose check in or check out."))
    except ApplicationError as exc:
        if exc.status == 404 and exc.code not in ("not_a_worker", "not_assigned"):
            raise Http404 from None
        messages.error(request, exc.message)
    return redirect("workforce:phone")


def duty_detail(request, session_id: int):
    post = request.post
    s = _or_404(selectors.duty_get, actor=post, session_id=session_id)
    mine = (me := selectors.worker_me(actor=post)) is not None and me.pk == s.worker_id
    return render(
        request,
        "workforce/duty.html",
        {
            "s": s,
            "mine": mine,
            "place_name": _place_names([s.place_code]).get(s.place_code, ""),
            "hours": round((s.ended_at - s.started_at).total_seconds() / 3600, 1)
            if s.ended_at
            else None,
        },
    )


# --- roster import --------------------------------------------------------------------------------
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 20 * MAX_UPLOAD_BYTES
ERRORS_SHOWN = 50
MODES = [
    ("all", gettext_lazy("All or nothing: import only if every row is good")),
    ("good", gettext_lazy("Import the good rows and give me a file of the bad ones")),
]
COLUMN_HELP = [
    ("name", True, gettext_lazy("Full name")),
    ("kind", True, None),
    ("phone", True, gettext_lazy("Mobile number; it identifies the worker on a new import")),
    (
        "place_code",
        True,
        gettext_lazy(
            "A grid or micro-grid (the worker is assigned there), a community for a liaison, "
            "or a community, street or district where the worker waits to be placed"
        ),
    ),
    ("role", False, None),
    ("origin", False, gettext_lazy("A sunk cadre's sending body, e.g. 区财政局")),
    ("team", False, gettext_lazy("A volunteer's team, e.g. 水井坊社区志愿服务队")),
    ("unit", False, gettext_lazy("A liaison's unit code, e.g. JJ-GA")),
    ("skills", False, None),
    ("username", False, gettext_lazy("User name of the new account (default: made up)")),
]
_CHOICE_COLUMNS = {"kind": WorkerKind, "role": AssignmentRole, "skills": Skill}


@csrf_exempt  # the size limit must be in place before the body is parsed; CSRF is checked below
def import_page(request):
    _need(_may_manage(request.post))
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_UPLOAD_BYTES + 1024 * 1024:
            return _import_render(request, "all", {"problem": _too_large()})
        request.upload_handlers.insert(0, uploads.SizeLimit(request, max_bytes=MAX_UPLOAD_BYTES))
    return _import_page(request)


@csrf_protect
def _import_page(request):
    if request.method != "POST":
        return _import_render(request, "all", {})
    mode = request.POST.get("mode", "all")
    return _import_render(request, mode, _run_import(request, mode))


def _too_large() -> str:
    return uploads.too_large_message(MAX_UPLOAD_BYTES)


def _import_render(request, mode: str, outcome: dict):
    chinese = UPLOAD.chinese
    columns = []
    for code, required, text in COLUMN_HELP:
        if code in _CHOICE_COLUMNS:
            text = _("One of: %(values)s") % {
                "values": "、".join(str(label) for _v, label in _CHOICE_COLUMNS[code].choices)
            }
        columns.append(
            {"code": code, "chinese": chinese.get(code, ""), "required": required, "text": text}
        )
    return render(
        request,
        "workforce/import.html",
        {
            "mode": mode,
            "modes": MODES,
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "columns": columns,
            **outcome,
        },
    )


def _run_import(request, mode: str) -> dict:
    """Check, save, import and forget the upload; the page's context for the outcome."""
    return uploads.run_import(
        UPLOAD,
        request,
        roster_import,
        mode=mode,
        modes=MODES,
        max_bytes=MAX_UPLOAD_BYTES,
        max_unpacked=MAX_UNPACKED_BYTES,
        shown=ERRORS_SHOWN,
    )


def import_errors(request, token: str):
    return uploads.error_file_response(
        UPLOAD,
        request,
        token,
        allowed=_may_manage(request.post),
        action="workforce.import_errors",
        object_type="workforce.worker",
        filename="roster-errors.csv",
    )


def import_template(request):
    _need(_may_manage(request.post))
    return uploads.template_response(UPLOAD, COLUMNS, filename="roster-template.csv")


# --- units ----------------------------------------------------------------------------------------
def units(request):
    post = request.post
    items = selectors.unit_list(actor=post)
    _need(bool(items) or has_perm(post, Perm.WORKFORCE_VIEW))
    return render(request, "workforce/units.html", {"units": items})


def unit_detail(request, unit_id: int):
    d = _or_404(selectors.unit_detail, actor=request.post, unit_id=unit_id)
    return render(request, "workforce/unit.html", {"d": d})
