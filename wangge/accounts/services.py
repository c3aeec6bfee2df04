"""Writes of the accounts app: posts, tokens, login outcomes, unlocking, TOTP. Each audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import pyotp
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import ADMIN_ROLES, Perm, Role
from wangge.accounts.models import ApiToken, LoginFailure, Post, TotpDevice, Unit
from wangge.accounts.rules import require, rule
from wangge.core import audit
from wangge.core.errors import PermissionDenied, ValidationError
from wangge.regions import codes as C
from wangge.regions.models import Grid, Region

TOKEN_PREFIX = "wg_"
MAX_TOKEN_DAYS = 366


# --- users and posts ------------------------------------------------------------------------
@transaction.atomic
def user_create(*, actor, username: str, password: str, full_name: str = ""):
    """A new account (system administrator's work). The password must pass the policy."""
    require(actor, Perm.USERS_MANAGE)
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError(_("A user name is required."))
    if User.objects.filter(username=username).exists():
        raise ValidationError(_("The user name %(name)s is taken.") % {"name": username})
    user = User(username=username, first_name=full_name[:150])
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError(" ".join(exc.messages), code="weak_password") from None
    user.set_password(password)
    user.save()
    audit.record(actor=actor, action="user.create", obj=user, details={"username": username})
    return user


def _place_level(code: str) -> str | None:
    if len(code) >= 15:
        g = Grid.objects.filter(code=code).values_list("level", flat=True).first()
        return g
    return Region.objects.filter(code=code).values_list("level", flat=True).first()


def post_check(*, user, role: str, place_code: str = "", unit: Unit | None = None):
    """Whether ``user`` may be given this post; returns (role, normalised place code) or raises
    ``ValidationError`` with the reason. Used by ``post_grant`` and by forms before saving."""
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError(_("Unknown role %(role)s.") % {"role": role}) from None
    r = rule(role)
    place_code = C.normalize(place_code)
    if r.in_unit and unit is None:
        raise ValidationError(_("A unit handler's post is held in a unit."))
    if not r.in_unit and unit is not None:
        raise ValidationError(_("Only unit handlers hold posts in a unit."))
    if r.levels:
        level = _place_level(place_code) if place_code else None
        if r.in_unit and not place_code:
            level = None  # the unit's own area applies
        elif level not in r.levels:
            raise ValidationError(
                _("A %(role)s post sits on a place of level %(levels)s; %(code)s is not one.")
                % {"role": role.label, "levels": ", ".join(r.levels), "code": place_code or "-"}
            )
    elif place_code:
        raise ValidationError(_("A %(role)s post is not held on a place.") % {"role": role.label})
    if (
        role in ADMIN_ROLES
        and Post.objects.filter(user=user, role__in=ADMIN_ROLES, is_active=True).exists()
    ):
        raise ValidationError(
            _("No user may hold two administrator roles (system, security, audit)."),
            code="admin_separation",
        )
    return role, place_code


@transaction.atomic
def post_grant(*, actor, user, role: str, place_code: str = "", unit: Unit | None = None) -> Post:
    """Give ``user`` a post. The role decides where it may sit (see ``rules.py``)."""
    require(actor, Perm.POSTS_MANAGE)
    return post_open(actor=actor, user=user, role=role, place_code=place_code, unit=unit)


def post_open(*, actor, user, role: str, place_code: str = "", unit: Unit | None = None) -> Post:
    """A new post, checked (``post_check``) and audited, for a caller that has checked the
    actor's own permission: ``post_grant`` (posts.manage), and the services of other apps whose
    use case brings a post with it (a grid worker's assignment to a grid gives the worker's post
    there). Runs inside the caller's transaction."""
    role, place_code = post_check(user=user, role=role, place_code=place_code, unit=unit)
    try:
        with transaction.atomic():
            post = Post.objects.create(user=user, role=role, place_code=place_code, unit=unit)
    except IntegrityError:
        raise ValidationError(
            _("No user may hold two administrator roles (system, security, audit)."),
            code="admin_separation",
        ) from None
    audit.record(
        actor=actor,
        action="post.grant",
        obj=post,
        details={
            "user": user.username,
            "role": role.value,
            "place": place_code,
            "unit": unit.code if unit else "",
        },
    )
    return post


@transaction.atomic
def post_end(*, actor, post: Post) -> Post:
    require(actor, Perm.POSTS_MANAGE)
    return post_close(actor=actor, post=post)


def post_close(*, actor, post: Post) -> Post:
    """End a post and revoke its tokens (audited), for a caller that has checked the actor's
    own permission (see ``post_open``). Runs inside the caller's transaction."""
    if post.is_active:
        post.is_active = False
        post.ended_at = timezone.now()
        post.save(update_fields=["is_active", "ended_at"])
        for token in post.tokens.filter(revoked_at__isnull=True):
            token.revoked_at = post.ended_at
            token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action="post.end",
            obj=post,
            details={"user": post.user.username, "role": post.role},
        )
    return post


# --- login outcomes and lockout -------------------------------------------------------------
def lockout_window() -> timedelta:
    return timedelta(minutes=settings.WANGGE_LOCKOUT_MINUTES)


def is_locked(*, username: str, ip: str | None) -> bool:
    """Locked when the account, or the address, has too many recent failures."""
    since = timezone.now() - lockout_window()
    recent = LoginFailure.objects.filter(at__gte=since)
    if recent.filter(username=username.lower()).count() >= settings.WANGGE_LOCKOUT_ATTEMPTS:
        return True
    return bool(ip and recent.filter(ip=ip).count() >= settings.WANGGE_LOCKOUT_IP_ATTEMPTS)


@transaction.atomic
def login_failed(*, username: str, ip: str | None, request=None) -> None:
    """Count a failure (also for accounts that do not exist) and audit a new lockout."""
    was_locked = is_locked(username=username, ip=ip)
    LoginFailure.objects.create(username=username.lower()[:150], ip=ip)
    audit.record(
        action="auth.login_failed",
        object_type="auth.user",
        object_id="",
        details={"username": username[:150]},
        request=request,
        outcome="failed",
    )
    if not was_locked and is_locked(username=username, ip=ip):
        audit.record(
            action="auth.lockout",
            details={"username": username[:150], "ip": ip},
            request=request,
            outcome="denied",
        )


@transaction.atomic
def login_succeeded(*, user, request=None) -> None:
    LoginFailure.objects.filter(username=user.username.lower()).delete()
    audit.record(actor=user, action="auth.login", obj=user, request=request)


def password_changed(*, user, request=None) -> None:
    audit.record(actor=user, action="auth.password_change", obj=user, request=request)


@transaction.atomic
def account_unlock(*, actor, username: str) -> int:
    """Clear the failures of an account (security administrator's work)."""
    require(actor, Perm.ACCOUNTS_UNLOCK)
    n, _ = LoginFailure.objects.filter(username=username.lower()).delete()
    audit.record(actor=actor, action="auth.unlock", details={"username": username, "cleared": n})
    return n


# --- API tokens -----------------------------------------------------------------------------
def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def token_create(*, actor, name: str, days: int = 90) -> tuple[ApiToken, str]:
    """A new token for the acting post. The raw token is returned once and never stored."""
    require(actor, Perm.TOKENS_OWN)
    if rule(actor.role).two_factor:
        raise PermissionDenied(_("Administrator posts sign in with two factors, not tokens."))
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Give the token a name (the app or device that uses it)."))
    if not 1 <= int(days) <= MAX_TOKEN_DAYS:
        raise ValidationError(
            _("A token lives between 1 and %(max)d days.") % {"max": MAX_TOKEN_DAYS}
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        post=actor,
        name=name[:100],
        key_hash=token_hash(raw),
        prefix=raw[:10],
        expires_at=timezone.now() + timedelta(days=int(days)),
    )
    audit.record(
        actor=actor,
        action="token.create",
        obj=token,
        details={"token_name": token.name, "expires": token.expires_at.isoformat()},
    )
    return token, raw


@transaction.atomic
def token_revoke(*, actor, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor, action="token.revoke", obj=token, details={"token_name": token.name}
        )
    return token


def token_touch(*, token: ApiToken) -> None:
    """Note the last use, at most once a minute (no write on every request)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


# --- two factors ------------------------------------------------------------------------------
@transaction.atomic
def totp_enrol(*, user) -> TotpDevice:
    """The user's device, created unconfirmed with a new secret if there is none yet."""
    device, _created = TotpDevice.objects.get_or_create(
        user=user, defaults={"secret": pyotp.random_base32()}
    )
    return device


def _totp_accept(device: TotpDevice, code: str) -> bool:
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(device.secret)
    now = timezone.now()
    for offset in (0, -1, 1):  # one step of clock drift either way
        step = int(now.timestamp()) // 30 + offset
        if step <= device.last_step:
            continue
        if secrets.compare_digest(totp.at(step * 30), code):
            updated = TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(
                last_step=step
            )
            return bool(updated)
    return False


@transaction.atomic
def totp_confirm(*, user, code: str, request=None) -> bool:
    device = TotpDevice.objects.select_for_update().get(user=user)
    ok = _totp_accept(device, code)
    if ok and not device.confirmed:
        TotpDevice.objects.filter(pk=device.pk).update(confirmed=True)
        audit.record(actor=user, action="auth.2fa_enrol", obj=user, request=request)
    return ok


@transaction.atomic
def totp_verify(*, user, code: str, request=None) -> bool:
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    ok = device is not None and _totp_accept(device, code)
    audit.record(
        actor=user, action="auth.2fa", obj=user, request=request, outcome="ok" if ok else "failed"
    )
    return ok


def audit_exported(*, actor, filters: dict, request=None) -> None:
    """Every export of the audit trail is itself audited."""
    audit.record(
        actor=actor,
        action="export.audit",
        object_type="core.auditentry",
        details={"filters": {k: v for k, v in filters.items() if v}},
        request=request,
    )
