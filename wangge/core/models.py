"""The audit trail: append-only rows, each chained to the previous one by a SHA-256 hash.

Rows are written only through ``wangge.core.audit.record()``. The model refuses updates and
deletes, and so does the database (triggers, migration ``0002``); ``audit.verify()`` recomputes
the chain to detect anything that got past both.

Also here: the working calendar's administrator entries (``CalendarDay``, read by
``wangge.core.workcal``) and the counter that tells every process to reload them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Someone tried to change or remove an audit row."""


class AuditEntryQuerySet(models.QuerySet):
    """No bulk writes: every row goes through ``audit.record()`` and none ever changes."""

    def update(self, **kwargs):
        raise AppendOnlyError("audit log is append-only: rows cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit log is append-only: rows cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("audit log is append-only: rows cannot be updated")

    def bulk_create(self, objs, *args, **kwargs):
        raise AppendOnlyError("audit rows are chained one by one: use audit.record()")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError("audit log is append-only: rows cannot be updated")


class Outcome(models.TextChoices):
    OK = "ok", _("ok")
    DENIED = "denied", _("denied")
    FAILED = "failed", _("failed")
    ERROR = "error", _("error")


class AuditEntry(models.Model):
    """Who did what to which object, when, from where, and how it ended.

    ``user_id`` and ``post_id`` are plain numbers, not foreign keys, so rows outlive the users
    and posts they name. ``details`` is a summary that has already been masked.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("time"), db_index=True)
    user_id = models.BigIntegerField(_("user id"), null=True, blank=True)
    username = models.CharField(_("user name"), max_length=150, blank=True)
    post_id = models.BigIntegerField(_("post id"), null=True, blank=True)
    role = models.CharField(_("role"), max_length=40, blank=True)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    object_type = models.CharField(_("object type"), max_length=80, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=Outcome.choices, default=Outcome.OK
    )
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)
    # Which of the parallel hash chains the row is linked into (see ``AuditHead``).
    chain = models.PositiveSmallIntegerField(_("chain"), default=1)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(fields=["action", "at"], name="core_audit_action_at"),
            models.Index(fields=["user_id", "at"], name="core_audit_user_at"),
            models.Index(fields=["chain", "id"], name="core_audit_chain_id"),
        ]

    def __str__(self) -> str:
        who = self.username or "system"
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit log is append-only: rows cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit log is append-only: rows cannot be deleted")


class AuditHead(models.Model):
    """The head of one hash chain (pk = the chain's number): the hash of its last row and the
    number of its rows.

    Appends to a chain lock its head (``SELECT … FOR UPDATE``), which serialises them, and
    ``audit.verify()`` compares the end of each chain with its head, so rows removed from the
    end are noticed too. Appends spread over ``WANGGE_AUDIT_CHAINS`` chains so that concurrent
    requests do not all queue behind one row lock.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    count = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("audit head")
        verbose_name_plural = _("audit heads")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id__gte=1, id__lte=256), name="core_audithead_chain_number"
            ),
        ]

    def __str__(self) -> str:
        return f"audit chain {self.pk}: {self.count} rows, last {self.last_hash[:12]}…"


class CalendarDay(models.Model):
    """An administrator's entry on the working calendar: ``date`` is a workday or a day off.

    Rows override the ``chinesecalendar`` package (which covers the years up to its release) and
    the Monday–Friday rule beyond it. Written only through ``workcal.calendar_day_set()`` and
    ``calendar_day_unset()``, which bump ``CalendarVersion`` so every process reloads.
    """

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(
        _("workday"), help_text=_("Checked: a working day (e.g. an adjusted weekend workday).")
    )
    name = models.CharField(
        _("name"), max_length=50, blank=True, help_text=_("The holiday, e.g. 国庆节.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        kind = _("workday") if self.is_workday else _("day off")
        return f"{self.date:%Y-%m-%d} {kind} {self.name}".rstrip()


class CalendarVersion(models.Model):
    """A counter (the single row pk=1) bumped by every write to ``CalendarDay``; each process's
    working calendar compares it with the version it was built from and reloads when they
    differ."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("calendar version")
        verbose_name_plural = _("calendar version")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="core_calendarversion_single"),
        ]

    def __str__(self) -> str:
        return f"calendar version {self.version}"
