from django.db import models
from django.utils.translation import gettext_lazy as _

from wangge.accounts.enums import Role


class FactKind(models.TextChoices):
    """What a ledger entry is for. Awards are keyed by the rule whose ``action`` is the fact
    kind; ``redemption`` and ``expiry`` are the ledger's own entries (no rule)."""

    EVENT_REPORT = "event_report", _("Valid event reported")
    EVENT_ON_SPOT = "event_on_spot", _("Event resolved on the spot")
    EVENT_REJECTED = "event_rejected", _("Report rejected")
    HOUSEHOLD_VERIFY = "household_verify", _("Household verified")
    CARE_VISIT = "care_visit", _("Care visit done")
    TASK_ON_TIME = "task_on_time", _("Campaign task answered on time")
    TASK_OVERDUE = "task_overdue", _("Campaign task overdue")
    REDEMPTION = "redemption", _("Reward redeemed")
    EXPIRY = "expiry", _("Points expired")


# Entries the ledger writes itself; every other kind is an award under a rule.
LEDGER_KINDS = (FactKind.REDEMPTION, FactKind.EXPIRY)
# Facts whose id is an event's id (the ledger links them to the event page).
EVENT_KINDS = (FactKind.EVENT_REPORT, FactKind.EVENT_ON_SPOT, FactKind.EVENT_REJECTED)


class Capped(models.TextChoices):
    """Why an award counts 0: the user's points from the rule would pass a cap."""

    DAILY = "daily", _("daily cap reached")
    MONTHLY = "monthly", _("monthly cap reached")


class Period(models.TextChoices):
    MONTH = "month", _("Month")
    YEAR = "year", _("Year")


# The posts whose users earn points: grid and micro-grid workers, sunk cadres, volunteers.
WORKER_ROLES = (Role.GRID_WORKER, Role.MICRO_GRID_WORKER, Role.SUNK_CADRE, Role.VOLUNTEER)
