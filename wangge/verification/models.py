"""Door-to-door verification (入户核验) of person–house data.

A *round* covers one grid or micro-grid in one *cycle* (e.g. the yearly check "2026"): every
household (house) under the place becomes a *task* for the place's workers. On site a worker
confirms the household or corrects it; every correction is a field-level ``FieldChange``
(who, when, old → new, personal values stored masked), and moving out or a vacant house is
recorded the same way. Each task carries the grid code of its house, so coverage for any node
(grid, community, street …) is one prefix query. Rounds of later cycles sit beside the earlier
ones: the history of a place's verification is its rounds in order.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.verification.enums import ChangeKind, RoundState, TaskOutcome, TaskState


class Round(models.Model):
    place_code = models.CharField(_("place"), max_length=18, db_index=True)
    cycle = models.CharField(_("cycle"), max_length=20)
    state = models.CharField(
        _("state"), max_length=10, choices=RoundState.choices, default=RoundState.OPEN
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.Post", null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_note = models.CharField(_("note"), max_length=300, blank=True)
    tasks_total = models.PositiveIntegerField(_("households"), default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("verification round")
        verbose_name_plural = _("verification rounds")
        constraints = [
            # one round per place and cycle; a new cycle is a new round (history is kept)
            models.UniqueConstraint(fields=["place_code", "cycle"], name="round_place_cycle"),
        ]

    def __str__(self) -> str:
        return f"{self.place_code} · {self.cycle}"


class Task(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="tasks")
    house = models.ForeignKey("people.House", on_delete=models.PROTECT, related_name="+")
    grid_code = models.CharField(_("grid code"), max_length=18)
    state = models.CharField(
        _("state"), max_length=10, choices=TaskState.choices, default=TaskState.PENDING
    )
    outcome = models.CharField(_("outcome"), max_length=12, choices=TaskOutcome.choices, blank=True)
    done_by = models.ForeignKey(
        "accounts.Post", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    done_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    # the client's key of the submission that completed the task: a retried submission with
    # the same key is answered with the task as it is, and writes nothing
    submission_key = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("verification task")
        verbose_name_plural = _("verification tasks")
        constraints = [
            models.UniqueConstraint(fields=["round", "house"], name="task_round_house"),
        ]
        indexes = [models.Index(fields=["grid_code", "state"], name="task_grid_state")]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.state})"


class FieldChange(models.Model):
    """One field of one record changed on site. Personal values (name, ID number, phone) are
    stored masked: the full new value lives only encrypted on the record itself."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="changes")
    grid_code = models.CharField(_("grid code"), max_length=18, db_index=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ChangeKind.choices)
    house = models.ForeignKey("people.House", on_delete=models.PROTECT, related_name="+")
    resident = models.ForeignKey(
        "people.Resident", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    field = models.CharField(_("field"), max_length=20)
    old_value = models.CharField(_("old value"), max_length=200, blank=True)
    new_value = models.CharField(_("new value"), max_length=200, blank=True)
    changed_by = models.ForeignKey(
        "accounts.Post", null=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("field change")
        verbose_name_plural = _("field changes")

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} → {self.new_value}"
