"""The words of smart sensing: device types and states, dead-letter reasons, alarm types and
states."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class DeviceType(models.TextChoices):
    SMOKE = "smoke", _("Smoke detector (烟感)")
    GAS = "gas", _("Combustible gas detector (燃气)")
    DOOR = "door", _("Door magnet (门磁)")
    WATER = "water", _("Water leak sensor (水浸)")
    BUTTON = "button", _("Emergency button / alarm phone (紧急按钮)")
    WEARABLE = "wearable", _("Wearable fall detector (跌倒报警)")


class DeviceStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")
    DISABLED = "disabled", _("Disabled")
    MAINTENANCE = "maintenance", _("Under maintenance")


class Transport(models.TextChoices):
    MQTT = "mqtt", _("MQTT")
    HTTP = "http", _("HTTP")


class DeadReason(models.TextChoices):
    """Why a message was not stored (dead letters)."""

    MALFORMED = "malformed", _("Not JSON")
    SCHEMA = "schema", _("Does not follow the payload schema")
    UNKNOWN_DEVICE = "unknown_device", _("Unknown device")
    DEVICE_MISMATCH = "device_mismatch", _("Device id differs from the sender's")
    TYPE_MISMATCH = "type_mismatch", _("Device type differs from the registry")
    DISABLED = "disabled", _("Device disabled")
    DUPLICATE = "duplicate", _("Duplicate sequence number")
    BAD_SIGNATURE = "bad_signature", _("Wrong signature")
    REPLAY = "replay", _("Timestamp outside the allowed window")
    RATE_LIMITED = "rate_limited", _("Too many messages")
    TOO_LARGE = "too_large", _("Too large")


class AlarmType(models.TextChoices):
    SMOKE = "smoke", _("Smoke (烟雾)")
    GAS = "gas", _("Gas leak (燃气泄漏)")
    LEAK = "leak", _("Water leak (漏水)")
    SOS = "sos", _("Emergency call (紧急呼叫)")
    FALL = "fall", _("Fall (跌倒)")
    DOOR = "door", _("Door opened (门磁报警)")
    INACTIVITY = "inactivity", _("No activity: welfare check (无活动)")


class AlarmState(models.TextChoices):
    NEW = "new", _("New")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")
    FALSE_ALARM = "false_alarm", _("False alarm")
    CLOSED_WITH_EVENT = "closed_with_event", _("Closed with its event")


OPEN_ALARM_STATES = (AlarmState.NEW, AlarmState.ACKNOWLEDGED)


class StepKind(models.TextChoices):
    """A line of an alarm's timeline."""

    RAISED = "raised", _("Raised")
    REPEATED = "repeated", _("Repeated")
    NOTIFIED = "notified", _("Notified")
    ESCALATED = "escalated", _("Escalated")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")
    FALSE_ALARM = "false_alarm", _("Marked a false alarm")
    EVENT_OPENED = "event_opened", _("Event opened")
    EVENT_CLOSED = "event_closed", _("Closed with its event")
    NOTE = "note", _("Note")


# What the platform itself writes on an alarm's timeline: stored as a key and its arguments
# (``AlarmStep.note_key``/``note_args``) and put into words when shown, in the reader's language.
STEP_NOTES = {
    "first_responder": gettext_noop("first responder"),
    "nobody": gettext_noop("Nobody answers for this grid."),
    "no_event": gettext_noop("No event opened: %(m)s"),
    "not_acked": gettext_noop("not acknowledged within %(n)s minutes"),
    "event_left": gettext_noop("The event %(n)s stays open for its dispatcher."),
    "event_left_may_not": gettext_noop(
        "The event %(n)s stays open for its dispatcher (your post may not %(action)s it)."
    ),
    "event_closed": gettext_noop("%(n)s: %(state)s"),
    "no_door": gettext_noop("No door opening for %(h)s hours (since %(at)s)."),
}


class IssueKind(models.TextChoices):
    """A device problem that raises one maintenance event per episode."""

    OFFLINE = "offline", _("Offline (heartbeat lost)")
    LOW_BATTERY = "low_battery", _("Low battery")
    FALSE_ALARMS = "false_alarms", _("Repeated false alarms")
