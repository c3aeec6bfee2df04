"""Pages: sign in and out, the second factor, the post switcher, own API tokens, unlocking."""

from __future__ import annotations

import json

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.hashers import make_password
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from wangge.accounts import selectors, services
from wangge.accounts.enums import Perm, Role
from wangge.accounts.forms import CodeForm, LoginForm, TokenForm
from wangge.accounts.middleware import SESSION_2FA, SESSION_POST
from wangge.accounts.models import TotpDevice
from wangge.accounts.rules import has_perm
from wangge.core.errors import ApplicationError
from wangge.core.http import client_ip
from wangge.core.ratelimit import limited


def _next(request, default: str = "/") -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or default
    if not url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return nxt


@login_not_required
def login_view(request):
    form = LoginForm(request.POST or None)
    error = None
    if request.method == "POST":
        ip = client_ip(request)
        if limited(f"login:{ip}", limit=settings.WANGGE_LOGIN_RATE_PER_MINUTE, window=60):
            error = _("Too many sign-in attempts from this address; wait a minute.")
        elif form.is_valid():
            username = form.cleaned_data["username"].strip()
            # One message for every failure, whether or not the account exists or is locked.
            error = _(
                "Sign-in failed. Check the user name and password. After %(n)d failed "
                "attempts an account is locked for %(m)d minutes."
            ) % {"n": settings.WANGGE_LOCKOUT_ATTEMPTS, "m": settings.WANGGE_LOCKOUT_MINUTES}
            if services.is_locked(username=username, ip=ip):
                make_password(form.cleaned_data["password"])  # same time as a real check
            else:
                user = authenticate(
                    request, username=username, password=form.cleaned_data["password"]
                )
                if user is not None:
                    login(request, user)
                    services.login_succeeded(user=user, request=request)
                    return HttpResponseRedirect(_next(request))
            services.login_failed(username=username, ip=ip, request=request)
    return render(
        request,
        "accounts/login.html",
        {"form": form, "error": error, "next": _next(request, "")},
        status=200,
    )


@require_POST
def logout_view(request):
    logout(request)
    return redirect("accounts:login")


def two_factor(request):
    """Enrol (first time: a QR code and the secret) or verify the TOTP code."""
    user = request.user
    device = TotpDevice.objects.filter(user=user).first()
    if device is None or not device.confirmed:
        device = services.totp_enrol(user=user)
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        ok = (
            services.totp_verify(user=user, code=code, request=request)
            if device.confirmed
            else services.totp_confirm(user=user, code=code, request=request)
        )
        if ok:
            request.session.cycle_key()
            request.session[SESSION_2FA] = True
            return HttpResponseRedirect(_next(request))
        error = _("The code is not right (or was already used). Try the next one.")
    context = {
        "form": form,
        "error": error,
        "enrol": not device.confirmed,
        "next": _next(request, ""),
    }
    if not device.confirmed:
        import pyotp

        uri = pyotp.TOTP(device.secret).provisioning_uri(name=user.username, issuer_name="wangge")
        context["qr_svg"] = segno.make(uri, error="m").svg_inline(scale=4)
        context["secret"] = device.secret
    return render(request, "accounts/two_factor.html", context)


@require_POST
def switch_post(request):
    post = selectors.post_get(actor=request.user, post_id=request.POST.get("post"))
    if post is None:
        raise Http404
    request.session[SESSION_POST] = post.id
    return HttpResponseRedirect(_next(request, reverse("home")))


def tokens(request):
    post = request.post
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = services.token_create(
                actor=post, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
            )
            created = {"token": token, "raw": raw}
            form = TokenForm()
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    return render(
        request,
        "accounts/tokens.html",
        {"form": form, "created": created, "tokens": selectors.token_list(actor=post)},
    )


@require_POST
def token_revoke(request, token_id: int):
    token = selectors.token_get(actor=request.post, token_id=token_id)
    if token is None:
        raise Http404
    services.token_revoke(actor=request.post, token=token)
    messages.success(request, _("The token %(name)s is revoked.") % {"name": token.name})
    return redirect("accounts:tokens")


def security(request):
    """Locked accounts, for the security administrator."""
    try:
        locked = selectors.locked_accounts(actor=request.post)
    except ApplicationError:
        raise Http404 from None
    if request.method == "POST":
        username = request.POST.get("username", "")
        services.account_unlock(actor=request.post, username=username)
        messages.success(request, _("%(name)s is unlocked.") % {"name": username})
        return redirect("accounts:security")
    return render(
        request,
        "accounts/security.html",
        {"locked": locked, "threshold": settings.WANGGE_LOCKOUT_ATTEMPTS},
    )


# Posts whose day is the closed loop: grid workers (phone page), dispatchers (queue), units.
WORK_ROLES = (
    Role.GRID_WORKER,
    Role.MICRO_GRID_WORKER,
    Role.COMMUNITY_SECRETARY,
    Role.STREET_DISPATCHER,
    Role.DISTRICT_DISPATCHER,
    Role.UNIT_HANDLER,
)


def home(request):
    """Each post starts where its work is."""
    post = request.post
    if post is not None and post.role in WORK_ROLES:
        return redirect("events:home")  # the events app sends each of them to its page
    if has_perm(post, Perm.PLACES_VIEW):
        return redirect("regions:browse")
    if has_perm(post, Perm.AUDIT_VIEW):
        return redirect("audit:list")
    return render(request, "accounts/no_pages.html")


def _audit_filters(request) -> dict:
    return {
        k: request.GET.get(k, "").strip()
        for k in ("action", "user", "outcome", "since", "until", "object")
    }


def audit_list(request):
    filters = _audit_filters(request)
    try:
        qs = selectors.audit_list(actor=request.post, filters=filters)
    except ApplicationError as exc:
        if exc.status == 403:
            raise Http404 from None
        messages.error(request, exc.message)
        qs = selectors.audit_list(actor=request.post, filters={})
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/audit_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "outcomes": ["ok", "failed", "denied", "error"],
        },
    )


def audit_export(request):
    filters = _audit_filters(request)
    try:
        rows = selectors.audit_list(actor=request.post, filters=filters, export=True)
    except ApplicationError as exc:
        if exc.status == 403:
            raise Http404 from None
        raise
    services.audit_exported(actor=request.post, filters=filters, request=request)
    response = StreamingHttpResponse(_csv_rows(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


def _csv_rows(rows):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")  # so spreadsheet programs read the UTF-8 Chinese text
    w.writerow(
        [
            "id",
            "at",
            "username",
            "role",
            "action",
            "object_type",
            "object_id",
            "outcome",
            "ip",
            "details",
            "hash",
        ]
    )
    yield buf.getvalue()
    for e in rows.iterator(chunk_size=2000):
        buf.seek(0)
        buf.truncate()
        w.writerow(
            [
                e.id,
                e.at.isoformat(),
                e.username,
                e.role,
                e.action,
                e.object_type,
                e.object_id,
                e.outcome,
                e.ip or "",
                json.dumps(e.details, ensure_ascii=False),
                e.hash,
            ]
        )
        yield buf.getvalue()


def password_change(request):
    """Change one's own password (the policy applies; the change is audited)."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        services.password_changed(user=user, request=request)
        messages.success(request, _("Your password is changed."))
        return redirect("home")
    return render(request, "accounts/password.html", {"form": form})
