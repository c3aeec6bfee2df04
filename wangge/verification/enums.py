from django.db import models
from django.utils.translation import gettext_lazy as _


class RoundState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class TaskState(models.TextChoices):
    PENDING = "pending", _("To visit")
    DONE = "done", _("Verified")


class TaskOutcome(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed as recorded")
    CORRECTED = "corrected", _("Corrected")
    VACANT = "vacant", _("Vacant")


class ChangeKind(models.TextChoices):
    CORRECTED = "corrected", _("Corrected")
    MOVED_OUT = "moved_out", _("Moved out")
    ADDED = "added", _("New member")
    HOUSE = "house", _("House")


class MemberAction(models.TextChoices):
    """What the worker found for one member of the household."""

    CONFIRM = "confirm", _("Lives here, as recorded")
    CORRECT = "correct", _("Lives here, correct the record")
    MOVED_OUT = "moved_out", _("Moved out")


# Fields of a resident a worker may correct on site, and whether the value is personal (stored
# masked in the change record).
CORRECTABLE = {
    "name": True,
    "id_number": True,
    "phone": True,
    "registration": False,
    "relation": False,
}
