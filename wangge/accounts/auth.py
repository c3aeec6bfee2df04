"""API authentication: a bearer token bound to a post, or the browser session's active post."""

from __future__ import annotations

from ninja.security import HttpBearer, SessionAuth

from wangge.accounts import selectors
from wangge.accounts.middleware import SESSION_2FA
from wangge.accounts.models import ApiToken
from wangge.accounts.services import token_hash, token_touch
from wangge.core.http import client_ip
from wangge.core.ratelimit import limited


class TokenAuth(HttpBearer):
    openapi_description = "API token: `Authorization: Bearer wg_…`, bound to one post."

    def authenticate(self, request, token):
        if limited(f"token-auth:{client_ip(request)}", limit=600, window=60):
            return None
        t = (
            ApiToken.objects.select_related("post__user", "post__unit")
            .filter(key_hash=token_hash(token))
            .first()
        )
        if t is None or not t.is_usable or not t.post.is_active or not t.post.user.is_active:
            return None
        request.post = t.post
        request.user = t.post.user
        request.auth_token = t
        token_touch(token=t)
        return t


class SessionPostAuth(SessionAuth):
    """The signed-in browser session acting through its active post (CSRF-checked)."""

    openapi_description = "Browser session (the active post), with a CSRF token."

    def authenticate(self, request, key):
        user = request.user
        if not user.is_authenticated or getattr(request, "post", None) is None:
            return None
        posts = getattr(request, "posts", None)  # the middleware's list: no second query
        if selectors.needs_two_factor(actor=user, posts=posts) and not request.session.get(
            SESSION_2FA
        ):
            return None
        request.auth_token = None
        return request.post


AUTH = [TokenAuth(), SessionPostAuth()]
