"""Own API tokens: list, create (the raw token is answered once), revoke."""

from __future__ import annotations

from datetime import datetime

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Router, Schema

from wangge.accounts import selectors, services
from wangge.accounts.auth import SessionPostAuth
from wangge.core.errors import ApplicationError
from wangge.core.ratelimit import limited

# Tokens are managed from a signed-in session only: a token cannot mint more tokens.
router = Router(tags=["tokens"], auth=[SessionPostAuth()])


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    post: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str


class TokenIn(Schema):
    name: str
    days: int = 90


class ErrorOut(Schema):
    error: dict


def _out(t) -> dict:
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "post": t.post_id,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "last_used_at": t.last_used_at,
    }


@router.get("", response=list[TokenOut], summary="Tokens of the signed-in user")
def token_list(request):
    return [_out(t) for t in selectors.token_list(actor=request.post)]


@router.post(
    "",
    response={201: TokenCreated, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Create a token for the active post (shown once)",
)
def token_create(request, body: TokenIn):
    if limited(f"token-create:{request.user.pk}", limit=10, window=3600):
        raise ApplicationError(
            _("Too many tokens created; try again later."), status=429, code="rate_limited"
        )
    token, raw = services.token_create(actor=request.post, name=body.name, days=body.days)
    return 201, {**_out(token), "token": raw}


@router.delete("/{token_id}", response={204: None, 404: ErrorOut}, summary="Revoke a token")
def token_revoke(request, token_id: int):
    token = selectors.token_get(actor=request.post, token_id=token_id)
    if token is None:
        raise Http404
    services.token_revoke(actor=request.post, token=token)
    return 204, None
