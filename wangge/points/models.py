"""Points (积分管理) of grid workers: the rule table, the ledger, balances, rewards.

Points belong to a worker's **user account** (a worker is a user holding posts). Every entry of
the ledger references the fact it is for — (``fact_kind``, ``fact_id``), e.g. ("event_report",
event id) or ("household_verify", verification task id) — and a unique constraint on that pair
means a fact scores once, however often a service is retried or however two requests race.
An award beyond a daily or monthly cap is kept as an entry of 0 points with the cap named, so a
recompute from the facts reproduces it. Redemptions and expiries are ledger entries too
(negative), so a user's balance is always the sum of their entries; ``Balance`` keeps that sum
on one row per user, written in the same transaction as each entry and locked by the writes
that must not overdraw it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.points.enums import Capped

POINTS = {"max_digits": 8, "decimal_places": 2}


class Rule(models.Model):
    """What a fact is worth: points (negative for deductions, fractions allowed), caps per
    user per day and per calendar month (in points; empty = no cap), how many months the
    points stay valid (empty = never expire) and whether the rule is in force."""

    action = models.CharField(_("action"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("English name"), max_length=100)
    points = models.DecimalField(_("points"), **POINTS)
    daily_cap = models.DecimalField(_("daily cap (points)"), null=True, blank=True, **POINTS)
    monthly_cap = models.DecimalField(_("monthly cap (points)"), null=True, blank=True, **POINTS)
    valid_months = models.PositiveSmallIntegerField(_("valid for (months)"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["action"]
        verbose_name = _("points rule")
        verbose_name_plural = _("points rules")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(daily_cap__isnull=True) | models.Q(daily_cap__gt=0),
                name="points_rule_daily_cap_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_cap__isnull=True) | models.Q(monthly_cap__gt=0),
                name="points_rule_monthly_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.points:+})"


class Entry(models.Model):
    """One line of a user's points ledger. Never changed once written."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    fact_kind = models.CharField(_("for"), max_length=40)
    fact_id = models.BigIntegerField(_("fact"))
    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    points = models.DecimalField(_("points"), **POINTS)  # what counts: 0 when capped
    base_points = models.DecimalField(_("rule points"), **POINTS)  # the rule's points then
    capped = models.CharField(_("capped"), max_length=10, choices=Capped.choices, blank=True)
    at = models.DateTimeField(_("at"))  # when the fact happened (caps and periods use this)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    scope_code = models.CharField(_("place"), max_length=18, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        constraints = [
            models.UniqueConstraint(fields=["fact_kind", "fact_id"], name="points_fact_once"),
        ]
        indexes = [
            models.Index(fields=["user", "at"], name="points_entry_user_at"),
            models.Index(fields=["at"], name="points_entry_at"),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(expires_at__isnull=False),
                name="points_entry_expires",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fact_kind}:{self.fact_id} {self.points:+}"


class Balance(models.Model):
    """The sum of a user's ledger, kept with every entry in the same transaction; the row a
    redemption locks so that two at once cannot both spend the same points."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.PROTECT, related_name="+"
    )
    points = models.DecimalField(_("balance"), max_digits=10, decimal_places=2, default=0)
    # the earliest expiry among the points left (the expiry sweep picks the rows due)
    next_expiry = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("points balance")
        verbose_name_plural = _("points balances")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.points}"


class Reward(models.Model):
    """An item of the reward catalogue (积分兑换)."""

    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    cost = models.DecimalField(_("points cost"), **POINTS)
    stock = models.PositiveIntegerField(_("stock"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cost", "id"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(condition=models.Q(cost__gt=0), name="points_reward_cost"),
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="points_reward_stock"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cost})"


class Redemption(models.Model):
    """A reward redeemed by a user (through one of their posts) for its cost in points."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    cost = models.DecimalField(_("points"), **POINTS)
    at = models.DateTimeField(_("redeemed at"))
    # the client's idempotency key: a retried request returns the first redemption
    key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], condition=~models.Q(key=""), name="points_redeem_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.reward_id} ({self.cost})"
