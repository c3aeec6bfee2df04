"""The acting post is resolved once per request, before any view runs (Sentry style), and the
session rules (idle timeout, two factors for administrators, login required) are applied."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from wangge.accounts import selectors
from wangge.core.errors import ApplicationError

SESSION_POST = "wangge_post_id"
SESSION_2FA = "wangge_2fa_ok"
SESSION_SEEN = "wangge_last_seen"
SESSION_STARTED = "wangge_signed_in_at"


def _open_path(path: str) -> bool:
    """Paths that need no login: the API (it has its own auth), static files, language."""
    return path.startswith(
        ("/api/", "/static/", "/i18n/", "/accounts/login", "/healthz", "/favicon.ico")
    )


def _api_401(code: str, message: str) -> JsonResponse:
    """The API's one error format (see ``ApplicationError.as_dict``), for the middleware."""
    return JsonResponse(ApplicationError(message, code=code).as_dict(), status=401)


class ActivePostMiddleware:
    """``request.post``: the active post of the signed-in user (the first one by default)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.post = None
        request.posts = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            posts = selectors.post_list(actor=user)
            request.posts = posts
            chosen = request.session.get(SESSION_POST)
            request.post = next((p for p in posts if p.id == chosen), posts[0] if posts else None)
        return self.get_response(request)


class SessionIdleMiddleware:
    """Signs a session out after ``WANGGE_SESSION_IDLE_SECONDS`` without a request, and in any
    case ``SESSION_COOKIE_AGE`` seconds after signing in (the absolute lifetime)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            seen = request.session.get(SESSION_SEEN, now)
            started = request.session.setdefault(SESSION_STARTED, now)
            if (
                now - seen > settings.WANGGE_SESSION_IDLE_SECONDS
                or now - started > settings.SESSION_COOKIE_AGE
            ):
                logout(request)
                if request.path.startswith("/api/"):
                    return _api_401("session_expired", _("Your session expired; sign in again."))
                messages.info(request, _("Your session expired; sign in again."))
                return redirect(f"{reverse('accounts:login')}?next={request.path}")
            if now - seen >= 60 or SESSION_SEEN not in request.session:
                request.session[SESSION_SEEN] = now  # written at most once a minute
        return self.get_response(request)


class TwoFactorMiddleware:
    """Administrators reach nothing but the second-factor page until they pass it."""

    allowed = ("/accounts/2fa", "/accounts/logout", "/static/", "/i18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.session.get(SESSION_2FA)
            and not request.path.startswith(self.allowed)
            and selectors.needs_two_factor(actor=user)
        ):
            if request.path.startswith("/api/"):
                return _api_401("two_factor_required", _("Confirm your second factor first."))
            return redirect(f"{reverse('accounts:two_factor')}?next={request.path}")
        return self.get_response(request)


class LoginRequired(LoginRequiredMiddleware):
    """Every page needs a signed-in user, except the open paths (the API answers 401 itself)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if _open_path(request.path):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
