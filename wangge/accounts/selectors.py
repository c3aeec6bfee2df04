"""Reads of the accounts app, each through the acting post or user."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

from wangge.accounts.enums import Perm
from wangge.accounts.models import ApiToken, LoginFailure, Post
from wangge.accounts.rules import require, rule
from wangge.accounts.services import lockout_window


def post_list(*, actor) -> list[Post]:
    """The active posts of the acting user (``actor`` is a user here: it has no post yet)."""
    if actor is None or not actor.is_authenticated:
        return []
    return list(
        Post.objects.filter(user=actor, is_active=True).select_related("unit").order_by("id")
    )


def post_get(*, actor, post_id) -> Post | None:
    """One of the acting user's own active posts, or None."""
    try:
        post_id = int(post_id)
    except (TypeError, ValueError):
        return None
    return next((p for p in post_list(actor=actor) if p.id == post_id), None)


def post_choices(*, actor) -> list[tuple[Post, str]]:
    """The acting user's posts with a label people read: role · place name (or unit)."""
    from wangge.regions.models import Grid, Region

    posts = post_list(actor=actor)
    codes = [p.place_code for p in posts if p.place_code]
    names = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
    names.update(Grid.objects.filter(code__in=codes).values_list("code", "name"))
    out = []
    for p in posts:
        where = p.unit.name if p.unit_id else names.get(p.place_code, p.place_code)
        out.append((p, f"{p.get_role_display()} · {where}" if where else p.get_role_display()))
    return out


def needs_two_factor(*, actor, posts: list[Post] | None = None) -> bool:
    """Whether the user holds a post whose role requires two factors (``posts``: the user's
    active posts when the caller has them already, as the middleware does)."""
    if actor is None or not actor.is_authenticated:
        return False
    if posts is None:
        posts = post_list(actor=actor)
    return actor.is_superuser or any(rule(p.role).two_factor for p in posts)


def token_list(*, actor) -> QuerySet[ApiToken]:
    """The tokens of the acting post's user (over all of their posts)."""
    if actor is None:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(post__user_id=actor.user_id).select_related("post")


def token_get(*, actor, token_id) -> ApiToken | None:
    try:
        return token_list(actor=actor).filter(pk=int(token_id)).first()
    except (TypeError, ValueError):
        return None


def locked_accounts(*, actor) -> list[dict]:
    """Accounts with recent failures, most first (security administrator)."""
    require(actor, Perm.ACCOUNTS_UNLOCK)
    since = timezone.now() - lockout_window()
    return list(
        LoginFailure.objects.filter(at__gte=since)
        .values("username")
        .annotate(failures=Count("id"))
        .order_by("-failures", "username")
    )


def audit_list(*, actor, filters: dict, export: bool = False) -> QuerySet:
    """The audit trail, newest first, filtered (audit administrator only)."""
    from datetime import datetime, time

    from django.utils.translation import gettext as _

    from wangge.core.errors import ValidationError
    from wangge.core.models import AuditEntry

    require(actor, Perm.AUDIT_EXPORT if export else Perm.AUDIT_VIEW)
    qs = AuditEntry.objects.order_by("-id")
    if filters.get("action"):
        qs = qs.filter(action__startswith=filters["action"])
    if filters.get("user"):
        qs = qs.filter(username=filters["user"])
    if filters.get("outcome"):
        qs = qs.filter(outcome=filters["outcome"])
    if filters.get("object"):
        qs = qs.filter(object_id=filters["object"])
    tz = timezone.get_current_timezone()
    for key, lookup, t in (("since", "at__gte", time.min), ("until", "at__lte", time.max)):
        if filters.get(key):
            try:
                day = datetime.strptime(filters[key], "%Y-%m-%d").date()
            except ValueError:
                raise ValidationError(_("Dates are written YYYY-MM-DD, e.g. 2026-11-29.")) from None
            qs = qs.filter(**{lookup: datetime.combine(day, t, tzinfo=tz)})
    return qs
