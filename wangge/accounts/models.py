"""Posts (岗位) held by users on places or in units, API tokens, login failures, TOTP devices."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import ADMIN_ROLES, Role, UnitKind


class Unit(models.Model):
    """A handling body (职能部门/处置单位): 城管, 住建, 消防, 民政, a property company …

    ``region_code`` is the subtree it serves (a code prefix; the city when empty). The workforce
    app adds the categories it handles and its handlers' details."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=UnitKind.choices)
    region_code = models.CharField(_("serves (place code)"), max_length=18, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")

    def __str__(self) -> str:
        return self.name


class Post(models.Model):
    """A role a user holds on a node of the place tree or in a unit."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="posts"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    place_code = models.CharField(_("place code"), max_length=18, blank=True)
    unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="posts"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user_id", "id"]
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        constraints = [
            # 三员分立, in the database too: one administrator role per user at most.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(role__in=[r.value for r in ADMIN_ROLES], is_active=True),
                name="one_admin_role_per_user",
            ),
            models.CheckConstraint(
                condition=~models.Q(role="unit_handler") | models.Q(unit__isnull=False),
                name="unit_handler_has_unit",
            ),
        ]
        indexes = [models.Index(fields=["place_code"])]

    def __str__(self) -> str:
        where = self.unit.name if self.unit_id else self.place_code
        return f"{self.get_role_display()} · {where}" if where else self.get_role_display()


class ApiToken(models.Model):
    """A bearer token for an app or device, bound to one post. Only its SHA-256 is stored."""

    post = models.ForeignKey(Post, on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("starts with"), max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class LoginFailure(models.Model):
    """One failed login; counted per account and per IP within the lockout window."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.username} {self.ip} {self.at:%Y-%m-%d %H:%M}"


class TotpDevice(models.Model):
    """The TOTP secret of a user (RFC 6238, 30-second steps)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp"
    )
    secret = models.CharField(max_length=64)
    confirmed = models.BooleanField(default=False)
    last_step = models.BigIntegerField(default=0)  # a code is accepted once (no replay)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"TOTP for user {self.user_id}"
