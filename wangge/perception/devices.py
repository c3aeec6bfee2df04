"""Writes of the device registry: register, rotate the key, disable, enable, edit.

A device's key is generated here, returned once (the caller shows it to whoever installs the
device) and stored only encrypted with the platform's keyring (field ``device_key``); the HTTP
endpoint decrypts it to verify a signature. Every write checks ``sensing.manage`` and the
house's place against the actor's scope and is audited (never with the key).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import Conflict, ValidationError
from wangge.people.crypto import get_keyring
from wangge.people.models import House
from wangge.perception.enums import DeviceStatus, DeviceType
from wangge.perception.models import Device
from wangge.perception.schema import valid_device_id
from wangge.perception.signing import new_key

KEY_FIELD = "device_key"


def device_key(device: Device) -> str:
    """The device's HMAC key in clear (for verifying a signature; never shown again)."""
    return get_keyring().decrypt(device.key_enc, field=KEY_FIELD) if device.key_enc else ""


def _check_fields(*, device_id: str, type: str, heartbeat_seconds: int | None) -> None:
    if not valid_device_id(device_id):
        raise ValidationError(
            _("A device id has 1 to 64 letters, digits or the signs _ . : -"),
            code="invalid_device_id",
            details={"fields": {"device_id": "invalid"}},
        )
    if type not in DeviceType.values:
        raise ValidationError(
            _("Unknown device type."),
            code="invalid_type",
            details={"fields": {"type": "invalid"}},
        )
    if heartbeat_seconds is not None and not 10 <= heartbeat_seconds <= 7 * 86_400:
        raise ValidationError(
            _("The heartbeat interval lies between 10 seconds and 7 days."),
            code="invalid_heartbeat",
            details={"fields": {"heartbeat_seconds": "invalid"}},
        )


def device_register(
    *,
    actor,
    device_id: str,
    type: str,
    house: House,
    location: str = "",
    heartbeat_seconds: int = 600,
    inactivity_hours: int | None = None,
    unit=None,
    at: datetime | None = None,
) -> tuple[Device, str]:
    """A new device in ``house``; returns it and its key (shown once)."""
    require(actor, Perm.SENSING_MANAGE)
    scope_for(actor).check(house.grid_code)
    _check_fields(device_id=device_id, type=type, heartbeat_seconds=heartbeat_seconds)
    at = at or timezone.now()
    key = new_key()
    try:
        with transaction.atomic():
            device = Device.objects.create(
                device_id=device_id,
                type=type,
                house=house,
                grid_code=house.grid_code,
                location=location[:60],
                heartbeat_seconds=heartbeat_seconds,
                inactivity_hours=inactivity_hours,
                unit=unit,
                key_enc=get_keyring().encrypt(key, field=KEY_FIELD),
                key_set_at=at,
                created_at=at,
            )
            audit.record(
                actor=actor,
                action="perception.device_register",
                obj=device,
                details={"device_id": device_id, "type": type, "grid_code": house.grid_code},
            )
    except IntegrityError:
        raise Conflict(
            _("A device with the id %(id)s is registered already.") % {"id": device_id},
            code="device_exists",
            details={"fields": {"device_id": "exists"}},
        ) from None
    return device, key


def _in_scope(actor, device: Device) -> None:
    require(actor, Perm.SENSING_MANAGE)
    scope_for(actor).check(device.grid_code)


@transaction.atomic
def device_key_rotate(*, actor, device: Device, at: datetime | None = None) -> str:
    """A new key for the device (the old one stops working at once); returned once."""
    _in_scope(actor, device)
    key = new_key()
    device.key_enc = get_keyring().encrypt(key, field=KEY_FIELD)
    device.key_set_at = at or timezone.now()
    device.save(update_fields=["key_enc", "key_set_at"])
    audit.record(actor=actor, action="perception.device_key_rotate", obj=device)
    return key


@transaction.atomic
def device_disable(*, actor, device: Device, reason: str = "") -> Device:
    """Stop accepting the device's messages (they land in the dead letters as ``disabled``)."""
    _in_scope(actor, device)
    if device.status == DeviceStatus.DISABLED:
        return device
    before = device.status
    device.status = DeviceStatus.DISABLED
    device.save(update_fields=["status"])
    audit.record(
        actor=actor,
        action="perception.device_disable",
        obj=device,
        details={"from": before, "reason": reason[:200]},
    )
    return device


@transaction.atomic
def device_enable(*, actor, device: Device, maintenance: bool = False) -> Device:
    """Accept the device's messages again (offline until it is heard from), or mark it under
    maintenance."""
    _in_scope(actor, device)
    before = device.status
    device.status = DeviceStatus.MAINTENANCE if maintenance else DeviceStatus.OFFLINE
    device.save(update_fields=["status"])
    audit.record(
        actor=actor,
        action="perception.device_enable",
        obj=device,
        details={"from": before, "to": device.status},
    )
    return device
