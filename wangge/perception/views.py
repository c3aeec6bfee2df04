"""Pages of smart sensing: the worker's phone alarm inbox and alarm page, and the desk pages
(alarms, devices, dead letters, response plans, device import). Parse → call → render."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm
from wangge.core.errors import ApplicationError
from wangge.events.views.common import is_field
from wangge.perception import alarms as A
from wangge.perception import selectors as S
from wangge.perception import services
from wangge.perception.enums import AlarmState, AlarmType, DeadReason, DeviceStatus, DeviceType
from wangge.perception.plans import FIELDS as PLAN_FIELDS
from wangge.perception.plans import may_edit_plans, plan_update

PAGE = 25


def _post(request, perm: Perm):
    post = getattr(request, "post", None)
    if post is None or not has_perm(post, perm):
        raise Http404
    return post


def _layout(post) -> str:
    return "phone.html" if is_field(post) else "base.html"


def _query(request) -> str:
    q = request.GET.copy()
    q.pop("page", None)
    return q.urlencode()


def _fields(exc: ApplicationError) -> dict:
    d = exc.details if isinstance(exc.details, dict) else {}
    return d.get("fields") if isinstance(d.get("fields"), dict) else {}


# --- alarms -------------------------------------------------------------------------------------
def inbox(request):
    """The worker's phone inbox: open alarms of my place, unacknowledged and newest first."""
    post = _post(request, Perm.SENSING_VIEW)
    page = Paginator(S.alarm_inbox(actor=post), PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "perception/inbox.html",
        {
            "layout": _layout(post),
            "page": page,
            "query": _query(request),
            "can_handle": has_perm(post, Perm.ALARMS_HANDLE),
        },
    )


def alarm(request, alarm_id: int):
    """An alarm with everything needed at once; POST: acknowledge / resolve / false alarm."""
    post = _post(request, Perm.SENSING_VIEW)
    try:
        a = S.alarm_get(actor=post, alarm_id=alarm_id)
    except ApplicationError:
        raise Http404 from None
    failed = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        note = request.POST.get("note", "")
        try:
            if action == "acknowledge":
                A.alarm_acknowledge(actor=post, alarm=a)
                messages.success(request, _("Acknowledged: the alarm is yours."))
            elif action == "resolve":
                A.alarm_resolve(actor=post, alarm=a, note=note)
                messages.success(request, _("Alarm resolved."))
            elif action == "false_alarm":
                A.alarm_false(actor=post, alarm=a, note=note)
                messages.success(request, _("Marked a false alarm."))
            else:
                raise Http404
            nxt = request.POST.get("next", "")
            return redirect(nxt if nxt == reverse("perception:inbox") else request.path)
        except ApplicationError as exc:
            failed = exc
            a = S.alarm_get(actor=post, alarm_id=alarm_id)
    return _alarm_page(request, post, a, failed=failed)


def _alarm_page(request, post, a, *, failed=None, revealed=None, status=200):
    view = S.alarm_view(actor=post, alarm=a)
    return render(
        request,
        "perception/alarm.html",
        {
            "layout": _layout(post),
            "v": view,
            "a": a,
            "failed": failed,
            "field_errors": _fields(failed) if failed else {},
            "note": request.POST.get("note", "") if failed else "",
            "revealed": revealed,
        },
        status=status if not failed else failed.status,
    )


def alarm_contacts(request, alarm_id: int):
    """POST: the phone numbers in full to call them (audited); GET goes back to the alarm."""
    post = _post(request, Perm.ALARMS_HANDLE)
    try:
        a = S.alarm_get(actor=post, alarm_id=alarm_id)
    except ApplicationError:
        raise Http404 from None
    if request.method != "POST":
        return redirect("perception:alarm", a.pk)
    try:
        revealed = A.alarm_contacts_unmask(actor=post, alarm=a, request=request)
    except ApplicationError as exc:
        return _alarm_page(request, post, a, failed=exc)
    return _alarm_page(request, post, a, revealed=revealed)


def alarm_list(request):
    """Desk: alarms with filters."""
    post = _post(request, Perm.SENSING_VIEW)
    f = {k: request.GET.get(k, "") for k in ("state", "type", "code", "device")}
    try:
        qs = S.alarm_list(actor=post, filters=f)
    except ApplicationError:
        raise Http404 from None
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "perception/alarm_list.html",
        {
            "page": page,
            "f": f,
            "query": _query(request),
            "states": AlarmState.choices,
            "types": AlarmType.choices,
        },
    )


# --- devices ------------------------------------------------------------------------------------
def device_list(request):
    post = _post(request, Perm.SENSING_VIEW)
    f = {k: request.GET.get(k, "") for k in ("status", "type", "code", "q", "low_battery")}
    try:
        qs = S.device_list(actor=post, filters=f)
    except ApplicationError:
        raise Http404 from None
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "perception/device_list.html",
        {
            "page": page,
            "f": f,
            "query": _query(request),
            "statuses": DeviceStatus.choices,
            "types": DeviceType.choices,
            "can_manage": has_perm(post, Perm.SENSING_MANAGE),
        },
    )


def device(request, device_pk: int):
    """A device: state, battery, heartbeat, recent messages, issues, alarms; POST (manage):
    rotate the key (shown once), disable, enable."""
    post = _post(request, Perm.SENSING_VIEW)
    try:
        d = S.device_get(actor=post, device_id=device_pk)
    except ApplicationError:
        raise Http404 from None
    new_key = None
    if request.method == "POST":
        if not has_perm(post, Perm.SENSING_MANAGE):
            raise Http404
        action = request.POST.get("action")
        try:
            if action == "rotate":
                new_key = services.device_key_rotate(actor=post, device=d)
            elif action == "disable":
                services.device_disable(actor=post, device=d, reason=request.POST.get("note", ""))
                messages.success(request, _("Device disabled."))
                return redirect("perception:device", d.pk)
            elif action == "enable":
                services.device_enable(actor=post, device=d)
                messages.success(request, _("Device enabled."))
                return redirect("perception:device", d.pk)
            else:
                raise Http404
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("perception:device", d.pk)
    msgs = Paginator(S.device_messages(actor=post, device=d), PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "perception/device.html",
        {
            "d": d,
            "page": msgs,
            "query": _query(request),
            "issues": list(S.device_issues(actor=post, device=d)[:20]),
            "alarms": list(S.alarm_list(actor=post, filters={"device": d.device_id})[:20]),
            "can_manage": has_perm(post, Perm.SENSING_MANAGE),
            "new_key": new_key,
        },
    )


def device_new(request):
    """Register a device in a house (by the house's id): the key is shown once."""
    from wangge.people.models import House

    post = _post(request, Perm.SENSING_MANAGE)
    values = {k: request.POST.get(k, "") for k in ("device_id", "type", "house", "location")}
    errors: dict = {}
    if request.method == "POST":
        house = None
        if values["house"].isdigit():
            house = House.objects.filter(pk=int(values["house"])).first()
        try:
            if house is None:
                from wangge.core.errors import ValidationError

                raise ValidationError(
                    _("No such house."), details={"fields": {"house": _("unknown house")}}
                )
            d, key = services.device_register(
                actor=post,
                device_id=values["device_id"].strip(),
                type=values["type"],
                house=house,
                location=values["location"],
            )
            return render(request, "perception/device_key.html", {"d": d, "key": key})
        except ApplicationError as exc:
            errors = _fields(exc) or {"device_id": exc.message}
            if exc.code == "not_found":
                errors = {"house": _("unknown house")}
    return render(
        request,
        "perception/device_new.html",
        {"values": values, "errors": errors, "types": DeviceType.choices},
        status=422 if errors else 200,
    )


# --- dead letters -------------------------------------------------------------------------------
def dead_letters(request):
    post = _post(request, Perm.SENSING_MANAGE)
    f = {k: request.GET.get(k, "") for k in ("reason", "device")}
    page = Paginator(S.dead_letter_list(actor=post, filters=f), PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "perception/dead_letters.html",
        {
            "page": page,
            "f": f,
            "query": _query(request),
            "counts": [
                (r, DeadReason(r).label, n) for r, n in S.dead_letter_counts(actor=post).items()
            ],
            "reasons": DeadReason.choices,
        },
    )


# --- plans --------------------------------------------------------------------------------------
def plans(request):
    post = (
        _post(request, Perm.SENSING_VIEW)
        if not has_perm(getattr(request, "post", None), Perm.SENSING_MANAGE)
        else request.post
    )
    return render(
        request,
        "perception/plans.html",
        {"plans": S.plan_list(actor=post), "can_edit": may_edit_plans(post)},
    )


def plan(request, alarm_type: str):
    post = _post(request, Perm.SENSING_MANAGE)
    if not may_edit_plans(post):
        raise Http404
    try:
        p = S.plan_get(actor=post, alarm_type=alarm_type)
    except ApplicationError:
        raise Http404 from None
    errors: dict = {}
    values = {k: getattr(p, k) for k in PLAN_FIELDS}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in PLAN_FIELDS}
        try:
            plan_update(actor=post, plan=p, **values)
            messages.success(request, _("Response plan saved."))
            return redirect("perception:plans")
        except ApplicationError as exc:
            errors = _fields(exc)
            p.refresh_from_db()
    from wangge.events.enums import Urgency

    return render(
        request,
        "perception/plan.html",
        {"p": p, "values": values, "errors": errors, "urgencies": Urgency.choices},
        status=422 if errors else 200,
    )


# --- import -------------------------------------------------------------------------------------
MAX_IMPORT_BYTES = 5 * 1024 * 1024
ERRORS_SHOWN = 200


def device_import(request):
    """Import devices from a CSV or XLSX file: check first (the preview), then import all or
    the good rows; new devices' keys are shown once."""
    import uuid
    from pathlib import Path

    from wangge.core import uploads
    from wangge.perception.imports import COLUMNS, HEADER_ALIASES, MODES, devices_import

    post = _post(request, Perm.SENSING_MANAGE)
    ctx: dict = {
        "mode": request.POST.get("mode", "check"),
        "modes": MODES,
        "columns": COLUMNS,
        "chinese": {v: k for k, v in reversed(HEADER_ALIASES.items())},
        "max_mb": MAX_IMPORT_BYTES // (1024 * 1024),
    }
    if request.method == "POST":
        f = request.FILES.get("file")
        suffix = Path(f.name).suffix.lower() if f else ""
        if f is None or suffix not in (".csv", ".xlsx"):
            ctx["problem"] = _("Choose a CSV or XLSX file.")
        elif f.size > MAX_IMPORT_BYTES:
            ctx["problem"] = _("The file is larger than %(n)s MB.") % {"n": ctx["max_mb"]}
        else:
            path = uploads.upload_dir(uploads.FileImport(name="device-imports", required=()))
            path = path / f"{uuid.uuid4().hex}{suffix}"
            with open(path, "wb") as fh:
                for chunk in f.chunks():
                    fh.write(chunk)
            try:
                result = devices_import(actor=post, path=path, mode=ctx["mode"])
                ctx["result"] = result
                ctx["errors"] = result.errors[:ERRORS_SHOWN]
            except ApplicationError as exc:
                ctx["problem"] = exc.message
                ctx["errors"] = (
                    (exc.details or [])[:ERRORS_SHOWN] if isinstance(exc.details, list) else []
                )
            finally:
                path.unlink(missing_ok=True)
    return render(request, "perception/device_import.html", ctx)
