"""The grid workforce: workers, their assignments to grids (with history and handovers), the
grids' party organisations, volunteer teams, and duty (check-in/out and the patrol route).

A worker is a person with a user account; an assignment puts the worker on a grid or micro-grid
(or, for a liaison, a community) as its primary worker or as a helper and brings the post that
goes with it (``accounts.Post``), so the worker sees the place's data exactly while assigned.
Assignments are never deleted: an ended one keeps who ended it, when and why, and its handover
(to whom the open work went). Every row that belongs to a place carries the place's code.
Phone numbers are stored like residents' phones: encrypted, with a keyed blind index.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wangge.workforce.enums import AssignmentRole, WorkerKind, WorkerStatus


class VolunteerTeam(models.Model):
    """A volunteer team (志愿服务队) of a community or street."""

    name = models.CharField(_("name"), max_length=100)
    place_code = models.CharField(_("place code"), max_length=18, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["place_code", "name"]
        verbose_name = _("volunteer team")
        verbose_name_plural = _("volunteer teams")
        constraints = [
            models.UniqueConstraint(fields=["place_code", "name"], name="volunteer_team_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Worker(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="worker"
    )
    name = models.CharField(_("name"), max_length=50)
    kind = models.CharField(_("kind"), max_length=12, choices=WorkerKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=WorkerStatus.choices, default=WorkerStatus.ACTIVE
    )
    # Where the worker is registered (a community, or the street or district that receives a
    # sunk cadre): the worker's home in the place tree, whatever the assignments are.
    place_code = models.CharField(_("registered at"), max_length=18, db_index=True)
    phone_enc = models.TextField(blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    skills = models.JSONField(_("skills"), default=list, blank=True)
    origin = models.CharField(_("sent by (body)"), max_length=100, blank=True)
    team = models.ForeignKey(
        VolunteerTeam,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("volunteer team"),
    )
    unit = models.ForeignKey(
        "accounts.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unit"),
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["place_code", "name", "id"]
        verbose_name = _("grid worker")
        verbose_name_plural = _("grid workers")
        constraints = [
            # one person, one worker: the phone's blind index is unique when present
            models.UniqueConstraint(
                fields=["phone_index"], condition=~Q(phone_index=""), name="worker_phone_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"worker {self.pk}"


class Assignment(models.Model):
    """A worker on a place, from ``started_at`` until ``ended_at`` (open: still there)."""

    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="assignments")
    place_code = models.CharField(_("place code"), max_length=18)
    role = models.CharField(_("role"), max_length=10, choices=AssignmentRole.choices)
    post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("from"))
    started_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)
    ended_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["place_code"],
                condition=Q(role="primary", ended_at__isnull=True),
                name="assignment_one_primary_per_place",
            ),
            models.UniqueConstraint(
                fields=["worker", "place_code"],
                condition=Q(ended_at__isnull=True),
                name="assignment_one_open_per_worker_place",
            ),
        ]
        indexes = [
            models.Index(fields=["place_code", "ended_at"], name="assignment_place"),
            models.Index(fields=["worker", "ended_at"], name="assignment_worker"),
        ]

    def __str__(self) -> str:
        return f"{self.worker_id} @ {self.place_code} ({self.role})"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class Handover(models.Model):
    """What became of the open work when an assignment ended: to the successor (who got an
    assignment and a post on the place) or, with nobody named, to the community. The open
    verification tasks of the place at that moment are listed."""

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="handover")
    place_code = models.CharField(_("place code"), max_length=18, db_index=True)
    from_worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="+")
    to_worker = models.ForeignKey(
        Worker, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_code = models.CharField(_("handed to (place)"), max_length=18, blank=True)
    closed_post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tasks = models.ManyToManyField("verification.Task", related_name="+", blank=True)
    at = models.DateTimeField(_("at"))
    by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")

    def __str__(self) -> str:
        return f"handover {self.pk} @ {self.place_code}"


class PartyOrganisation(models.Model):
    """The party organisation of a grid (网格党支部/党小组) and its secretary."""

    grid_code = models.CharField(_("grid code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=100)
    secretary = models.ForeignKey(
        Worker,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("secretary"),
    )
    members = models.PositiveIntegerField(_("party members"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["grid_code"]
        verbose_name = _("grid party organisation")
        verbose_name_plural = _("grid party organisations")

    def __str__(self) -> str:
        return self.name


class DutySession(models.Model):
    """A worker on duty on a place, from check-in to check-out, with where the phone was at
    each end: the distance outside the place's boundary (None without a position) and whether
    that was farther than allowed (``far``: allowed, but flagged)."""

    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="duty_sessions")
    post = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    place_code = models.CharField(_("place code"), max_length=18)
    key = models.CharField(max_length=64, blank=True)  # the check-in's client key
    started_at = models.DateTimeField(_("checked in"))
    start_lon = models.FloatField(null=True, blank=True)
    start_lat = models.FloatField(null=True, blank=True)
    start_accuracy = models.FloatField(null=True, blank=True)
    start_distance_m = models.FloatField(null=True, blank=True)
    start_far = models.BooleanField(default=False)
    ended_at = models.DateTimeField(_("checked out"), null=True, blank=True)
    end_lon = models.FloatField(null=True, blank=True)
    end_lat = models.FloatField(null=True, blank=True)
    end_accuracy = models.FloatField(null=True, blank=True)
    end_distance_m = models.FloatField(null=True, blank=True)
    end_far = models.BooleanField(default=False)
    points = models.PositiveIntegerField(_("patrol points"), default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("duty session")
        verbose_name_plural = _("duty sessions")
        constraints = [
            models.UniqueConstraint(
                fields=["worker"], condition=Q(ended_at__isnull=True), name="duty_one_open"
            ),
            models.UniqueConstraint(
                fields=["worker", "key"], condition=~Q(key=""), name="duty_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["place_code", "ended_at"], name="duty_place")]

    def __str__(self) -> str:
        return f"duty {self.pk} ({self.worker_id} @ {self.place_code})"


class PatrolBatch(models.Model):
    """One batch of patrol points as the phone sent it; the client's key makes a retried batch
    the same batch (its points are not written twice)."""

    session = models.ForeignKey(DutySession, on_delete=models.CASCADE, related_name="batches")
    key = models.CharField(max_length=64)
    payload_hash = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    points = models.PositiveIntegerField(default=0)
    ignored = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "key"], name="patrol_batch_key_unique")
        ]

    def __str__(self) -> str:
        return f"batch {self.key} of duty {self.session_id}"


class PatrolPoint(models.Model):
    session = models.ForeignKey(DutySession, on_delete=models.CASCADE, related_name="trace")
    batch = models.ForeignKey(PatrolBatch, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    lon = models.FloatField()
    lat = models.FloatField()
    accuracy = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["session", "at"], name="patrol_point_session")]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.lon:.5f},{self.lat:.5f}"
