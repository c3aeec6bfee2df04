from django.db import models
from django.utils.translation import gettext_lazy as _


class EventState(models.TextChoices):
    REPORTED = "reported", _("Reported")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    DISPATCHED = "dispatched", _("Dispatched")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    HANDLED = "handled", _("Handled")
    CLOSED = "closed", _("Closed")
    SUSPENDED = "suspended", _("Suspended")
    MERGED = "merged", _("Merged")


# States in which an event still needs work (the others are final).
OPEN_STATES = (
    EventState.REPORTED,
    EventState.ACCEPTED,
    EventState.DISPATCHED,
    EventState.ACKNOWLEDGED,
    EventState.HANDLED,
    EventState.SUSPENDED,
)
FINAL_STATES = (EventState.REJECTED, EventState.CLOSED, EventState.MERGED)


class EventAction(models.TextChoices):
    REPORT = "report", _("Report")
    ACCEPT = "accept", _("Accept")
    REJECT = "reject", _("Reject")
    DISPATCH = "dispatch", _("Dispatch")
    ACKNOWLEDGE = "acknowledge", _("Acknowledge (签收)")
    HANDLE = "handle", _("Handle (处置)")
    VERIFY_PASS = "verify_pass", _("Verify and close")
    VERIFY_FAIL = "verify_fail", _("Verification failed: rework")
    RETURN = "return", _("Return: not our business")
    ESCALATE = "escalate", _("Escalate (吹哨报到)")
    REQUEST_EXTENSION = "request_extension", _("Ask for more time")
    APPROVE_EXTENSION = "approve_extension", _("Approve more time")
    DENY_EXTENSION = "deny_extension", _("Deny more time")
    SUSPEND = "suspend", _("Suspend")
    RESUME = "resume", _("Resume")
    MERGE = "merge", _("Merge into another event")
    SUPERVISE = "supervise", _("Supervise (督办)")
    RESOLVE_ON_SPOT = "resolve_on_spot", _("Resolved on the spot (就地解决)")
    SPOT_CHECK_PASS = "spot_check_pass", _("Spot check: confirmed")
    SPOT_CHECK_FAIL = "spot_check_fail", _("Spot check: not resolved, reopen")
    # written by the platform itself (the sweep, automatic dispatch)
    WARN = "warn", _("Deadline approaching")
    OVERDUE = "overdue", _("Overdue")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")
    EMERGENCY = "emergency", _("Emergency")


class Source(models.TextChoices):
    PATROL = "patrol", _("Grid worker patrol")
    RESIDENT = "resident", _("Resident")
    HOTLINE = "hotline", _("12345 hotline")
    SENSOR = "sensor", _("IoT sensor")
    CAMERA = "camera", _("AI camera")
    CAMPAIGN = "campaign", _("Campaign")
    DISPATCHER = "dispatcher", _("Dispatcher entry")


class HandlingLevel(models.TextChoices):
    """Where an event is handled; escalation moves it up (吹哨报到)."""

    COMMUNITY = "community", _("Community")
    STREET = "street", _("Street")
    DISTRICT = "district", _("District")
    CITY = "city", _("City")


LEVEL_ORDER = [
    HandlingLevel.COMMUNITY,
    HandlingLevel.STREET,
    HandlingLevel.DISTRICT,
    HandlingLevel.CITY,
]
# The length of the place code a level's dispatcher sits on.
LEVEL_CODE_LENGTH = {
    HandlingLevel.COMMUNITY: 12,
    HandlingLevel.STREET: 9,
    HandlingLevel.DISTRICT: 6,
    HandlingLevel.CITY: 4,
}


class RejectReason(models.TextChoices):
    INVALID = "invalid", _("Not a valid report")
    DUPLICATE = "duplicate", _("Duplicate")
    OUT_OF_SCOPE = "out_of_scope", _("Not for this platform")


class Notice(models.TextChoices):
    NEW_WORK = "new_work", _("New work")
    DEADLINE_NEAR = "deadline_near", _("Deadline approaching")
    OVERDUE = "overdue", _("Overdue")
    SUPERVISED = "supervised", _("Supervised")
    RETURNED = "returned", _("Returned")
    REWORK = "rework", _("Sent back for rework")
    VERIFY = "verify", _("To verify")
    ALARM = "alarm", _("Alarm")
    ALARM_ESCALATED = "alarm_escalated", _("Alarm escalated to you")
