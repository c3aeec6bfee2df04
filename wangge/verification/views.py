"""Pages of door-to-door verification: coverage and rounds, the worker's phone pages for a
round and a household, and the discrepancy report."""

from __future__ import annotations

import csv
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import ApplicationError
from wangge.people.enums import HouseUse, Registration, Relation
from wangge.regions import codes as C
from wangge.verification import labels, selectors, services
from wangge.verification.enums import ChangeKind, MemberAction, RoundState, TaskState
from wangge.verification.services import MemberCheck, NewMember

NEW_MEMBER_SLOTS = 2


def _or_404(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404 from None
        raise


def _node(request) -> str:
    code = C.normalize(request.GET.get("code", "") or "")
    return code or (scope_for(request.post).root or "")


def overview(request):
    """Coverage of a node in a cycle, its children, its rounds; creating rounds."""
    post = request.post
    code = _node(request)
    cycle = request.GET.get("cycle", "").strip()
    cov = _or_404(selectors.coverage, actor=post, code=code, cycle=cycle)
    rounds = selectors.round_list(
        actor=post, filters={"code": code, "state": request.GET.get("state", "")}
    )
    page = Paginator(rounds, 20).get_page(request.GET.get("page"))
    names = labels.place_names([r.place_code for r in page])
    for r in page:
        r.place_name = names.get(r.place_code, "")
    query = request.GET.copy()
    query.pop("page", None)
    parent = C.parent_code(code)
    return render(
        request,
        "verification/overview.html",
        {
            "code": code,
            "up": parent if parent and scope_for(post).covers(parent) else "",
            "cov": cov,
            "page": page,
            "query": query.urlencode(),
            "may_edit": has_perm(post, Perm.PEOPLE_EDIT),
            "is_grid": len(code) >= 15,
            "default_cycle": str(timezone.localdate().year),
            "state": request.GET.get("state", ""),
            "states": RoundState.choices,
        },
    )


def round_create(request):
    """Create a round for a grid / micro-grid, or one per grid under a community or street."""
    if request.method != "POST":
        return redirect("verification:overview")
    post = request.post
    code = C.normalize(request.POST.get("code", ""))
    cycle = request.POST.get("cycle", "")
    due = (
        parse_date(request.POST.get("due_date", "") or "") if request.POST.get("due_date") else None
    )
    back = f"{reverse('verification:overview')}?code={code}"
    try:
        if len(code) >= 15:
            rnd = services.round_create(actor=post, code=code, cycle=cycle, due_date=due)
            messages.success(
                request,
                _("Round %(cycle)s for %(code)s: %(n)d households to visit.")
                % {"cycle": rnd.cycle, "code": code, "n": rnd.tasks_total},
            )
            return redirect("verification:round", rnd.pk)
        made = services.rounds_create_for(actor=post, code=code, cycle=cycle, due_date=due)
        messages.success(
            request,
            _("%(n)d rounds of cycle %(cycle)s, one for each grid.")
            % {"n": len(made), "cycle": cycle.strip()},
        )
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        messages.error(request, exc.message)
    return redirect(back)


def round_detail(request, round_id: int):
    """The worker's list of the round's households, in walking order (phone page)."""
    post = request.post
    rnd = _or_404(selectors.round_get, actor=post, round_id=round_id)
    if request.method == "POST":
        try:
            services.round_close(actor=post, rnd=rnd, note=request.POST.get("note", ""))
            messages.success(request, _("The round is closed."))
            return redirect("verification:round", rnd.pk)
        except ApplicationError as exc:
            if exc.status in (403, 404):
                raise Http404 from None
            messages.error(request, exc.message)
    state = request.GET.get("state", TaskState.PENDING if rnd.state == RoundState.OPEN else "")
    if state == "all":
        state = ""
    tasks = _or_404(selectors.task_list, actor=post, rnd=rnd, state=state)
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "verification/round.html",
        {
            "rnd": rnd,
            "page": page,
            "state": state or "all",
            "pct": round(100 * rnd.tasks_done / rnd.tasks_total) if rnd.tasks_total else 0,
            "may_edit": has_perm(post, Perm.PEOPLE_EDIT),
            "note": request.POST.get("note", ""),
        },
    )


def _form_members(request, members) -> list[MemberCheck]:
    out = []
    for v in members:
        action = request.POST.get(f"m{v.id}-action", MemberAction.CONFIRM)
        fields = {}
        if action == MemberAction.CORRECT:
            for f in ("name", "id_number", "phone", "registration", "relation"):
                value = request.POST.get(f"m{v.id}-{f}", "").strip()
                if value:
                    fields[f] = value
        out.append(MemberCheck(v.id, action, fields))
    return out


def _form_new_members(request) -> list[NewMember]:
    out = []
    for i in range(NEW_MEMBER_SLOTS):
        name = request.POST.get(f"n{i}-name", "").strip()
        if not name:
            continue
        out.append(
            NewMember(
                name=name,
                id_number=request.POST.get(f"n{i}-id_number", "").strip(),
                phone=request.POST.get(f"n{i}-phone", "").strip(),
                registration=request.POST.get(f"n{i}-registration", Registration.HOUSEHOLD),
                relation=request.POST.get(f"n{i}-relation", Relation.RELATIVE),
            )
        )
    return out


def task_detail(request, task_id: int):
    """One household on site: confirm or correct each member, record moves and vacancy."""
    post = request.post
    task = _or_404(selectors.task_get, actor=post, task_id=task_id)
    members = selectors.task_members(actor=post, task=task)
    if request.method == "POST" and task.state == TaskState.PENDING:
        try:
            services.household_verify(
                actor=post,
                task=task,
                members=_form_members(request, members),
                house_use=request.POST.get("house_use", ""),
                vacant=request.POST.get("vacant") == "1",
                new_members=_form_new_members(request),
                note=request.POST.get("note", ""),
                key=request.POST.get("key", ""),
                request=request,
            )
            messages.success(request, _("Household verified."))
            nxt = (
                selectors.task_list(actor=post, rnd=task.round, state=TaskState.PENDING)
                .exclude(pk=task.pk)
                .first()
            )
            if nxt is not None:
                return redirect("verification:task", nxt.pk)
            return redirect("verification:round", task.round_id)
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            if exc.code == "already_verified":
                task = selectors.task_get(actor=post, task_id=task.pk)
            messages.error(request, exc.message)
    elif request.method == "POST":  # a retried submission of a task already done
        if request.POST.get("key") and request.POST.get("key") == task.submission_key:
            messages.success(request, _("Household verified."))
        else:
            messages.error(request, _("This household was already verified."))
    form = request.POST if request.method == "POST" else {}
    return render(
        request,
        "verification/task.html",
        {
            "task": task,
            "house": task.house,
            "members": [
                {
                    "v": v,
                    "action": form.get(f"m{v.id}-action", MemberAction.CONFIRM),
                    "values": {
                        f: form.get(f"m{v.id}-{f}", "")
                        for f in ("name", "id_number", "phone", "registration", "relation")
                    },
                }
                for v in members
            ],
            "new_slots": [
                {
                    "i": i,
                    "values": {
                        f: form.get(f"n{i}-{f}", "")
                        for f in ("name", "id_number", "phone", "registration", "relation")
                    },
                }
                for i in range(NEW_MEMBER_SLOTS)
            ],
            "changes": labels.change_views(selectors.task_changes(actor=post, task=task))
            if task.state == TaskState.DONE
            else [],
            "actions": MemberAction.choices,
            "uses": HouseUse.choices,
            "registrations": Registration.choices,
            "relations": Relation.choices,
            "key": form.get("key") or uuid.uuid4().hex,
            "house_use": form.get("house_use", task.house.use),
            "vacant": form.get("vacant") == "1",
            "note": form.get("note", ""),
            "may_edit": has_perm(post, Perm.PEOPLE_EDIT) and task.round.state == RoundState.OPEN,
        },
    )


def changes(request):
    """The discrepancy report: what verification changed under a node, per field."""
    post = request.post
    code = _node(request)
    cycle = request.GET.get("cycle", "").strip()
    kind = request.GET.get("kind", "").strip()
    try:
        qs = _or_404(selectors.change_list, actor=post, code=code, cycle=cycle, kind=kind)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        kind = ""
        qs = _or_404(selectors.change_list, actor=post, code=code, cycle=cycle)
    if request.GET.get("format") == "csv":
        return _changes_csv(request, qs, code, cycle)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "verification/changes.html",
        {
            "code": code,
            "cycle": cycle,
            "kind": kind,
            "kinds": ChangeKind.choices,
            "cycles": selectors.cycles_under(actor=post, code=code),
            "summary": [
                (ChangeKind(k).label, labels.field_label(f), n)
                for k, f, n in selectors.change_summary(actor=post, code=code, cycle=cycle)
            ],
            "page": page,
            "rows": labels.change_views(page.object_list),
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value):
        return value


def _changes_csv(request, qs, code, cycle):
    """The report as CSV (values as stored: personal ones masked). Audited."""
    audit.record(
        actor=request.post,
        action="export.verification_changes",
        object_type="verification.fieldchange",
        object_id=code,
        details={"rows": qs.count(), "cycle": cycle, "masked": True},
        request=request,
    )
    w = csv.writer(_Echo())
    header = [
        _("Time"),
        _("Grid"),
        _("Address"),
        _("Kind"),
        _("Field"),
        _("Old value"),
        _("New value"),
        _("Cycle"),
    ]

    def rows():
        yield "\ufeff" + w.writerow(header)
        for c in qs.iterator(chunk_size=2000):
            yield w.writerow(
                [
                    timezone.localtime(c.changed_at).strftime("%Y-%m-%d %H:%M"),
                    c.grid_code,
                    str(c.house),
                    c.get_kind_display(),
                    labels.field_label(c.field),
                    c.old_value,
                    c.new_value,
                    c.task.round.cycle,
                ]
            )

    resp = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="verification-changes-{code}.csv"'
    return resp
