"""Import of devices (CSV or XLSX), one row per device.

Columns (Chinese headers are accepted too)::

    device_id, type, house_id | (address, house_unit, room), location,
    heartbeat_seconds, inactivity_hours, unit

The house is given by its number (``house_id``) or by the building's address with the unit
and room. ``type`` is a code (``gas``) or a label in English or Chinese (``燃气``). A row whose
device id is registered already updates its location, intervals and maintenance unit (an empty
cell changes nothing) — importing a file again changes nothing; a device is never moved to
another house or type by an import. New devices get a key each, returned once in
``result.keys`` (the page shows them, the command writes them to a file of mode 0600).

Modes (the row-error machinery of ``wangge.core.imports``): ``check`` checks every row and
writes nothing (the preview); ``all`` writes nothing if a row is bad; ``good`` writes the good
rows and puts the bad ones in an error file. Rows are written through the services (each
registration and change audited as if made by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.models import Unit
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core import imports as core_imports
from wangge.core.errors import ValidationError
from wangge.core.imports import ImportResult, RowError, choice_labels
from wangge.people.models import House
from wangge.perception.devices import device_register
from wangge.perception.enums import DeviceType
from wangge.perception.models import Device
from wangge.perception.schema import valid_device_id

COLUMNS = [
    "device_id",
    "type",
    "house_id",
    "address",
    "house_unit",
    "room",
    "location",
    "heartbeat_seconds",
    "inactivity_hours",
    "unit",
]
HEADER_ALIASES = {
    "设备编号": "device_id",
    "设备类型": "type",
    "类型": "type",
    "房屋编号": "house_id",
    "地址": "address",
    "楼栋地址": "address",
    "单元": "house_unit",
    "房号": "room",
    "安装位置": "location",
    "心跳间隔": "heartbeat_seconds",
    "无活动时长": "inactivity_hours",
    "维护单位": "unit",
}
REQUIRED = ("device_id", "type")
MODES = ("check", "all", "good")


@dataclass
class DeviceImportResult(ImportResult):
    keys: list[tuple[str, str]] = field(default_factory=list)  # new devices: (id, key), once


@dataclass
class _Row:
    n: int
    device_id: str
    type: str
    house: House | None
    location: str | None
    heartbeat_seconds: int | None
    inactivity_hours: int | None
    unit: Unit | None
    device: Device | None


def _int(value: str, lo: int, hi: int) -> int | None:
    try:
        v = int(value)
    except ValueError:
        return None
    return v if lo <= v <= hi else None


class _Checker:
    def __init__(self, actor) -> None:
        self.scope = scope_for(actor)
        self.types = choice_labels(DeviceType)
        self.units = {u.code: u for u in Unit.objects.filter(is_active=True)}
        self.seen: dict[str, int] = {}

    def _house(self, n: int, raw: dict[str, str], errs: list[RowError]) -> House | None:
        get = raw.get
        qs = House.objects.select_related("building")
        if get("house_id"):
            house = (
                qs.filter(pk=int(get("house_id"))).first() if get("house_id").isdigit() else None
            )
            col = "house_id"
        elif get("address") and get("room"):
            house = qs.filter(
                building__address=get("address"),
                unit=get("house_unit", ""),
                room=get("room"),
            ).first()
            col = "room"
        else:
            return None
        if house is None or not self.scope.covers(house.grid_code):
            errs.append(RowError(n, col, _("no such house in your area")))
            return None
        return house

    def check(self, n: int, raw: dict[str, str]) -> tuple[_Row | None, list[RowError]]:
        errs: list[RowError] = []
        get = raw.get
        for col in REQUIRED:
            if not get(col):
                errs.append(RowError(n, col, _("required")))
        did = get("device_id", "")
        if did and not valid_device_id(did):
            errs.append(RowError(n, "device_id", _("1 to 64 letters, digits or _ . : -")))
        elif did:
            first = self.seen.setdefault(did, n)
            if first != n:
                errs.append(
                    RowError(n, "device_id", _("row %(row)d has this device") % {"row": first})
                )
        dtype = ""
        if value := get("type"):
            dtype = self.types.get(value, "")
            if not dtype:
                errs.append(RowError(n, "type", _("unknown value %(v)s") % {"v": value}))
        house = self._house(n, raw, errs)
        device = Device.objects.filter(device_id=did).first() if did else None
        if device is not None:
            if not self.scope.covers(device.grid_code):
                errs.append(RowError(n, "device_id", _("registered elsewhere")))
            elif dtype and device.type != dtype:
                errs.append(RowError(n, "type", _("the device is registered as another type")))
            elif house is not None and device.house_id != house.pk:
                errs.append(RowError(n, "house_id", _("the device is registered in another house")))
        elif house is None and not any(e.column in ("house_id", "room") for e in errs):
            errs.append(RowError(n, "house_id", _("give house_id, or address and room")))
        hb = ih = None
        if get("heartbeat_seconds"):
            hb = _int(get("heartbeat_seconds"), 10, 7 * 86_400)
            if hb is None:
                errs.append(RowError(n, "heartbeat_seconds", _("10 to 604800 seconds")))
        if get("inactivity_hours"):
            ih = _int(get("inactivity_hours"), 1, 24 * 14)
            if ih is None:
                errs.append(RowError(n, "inactivity_hours", _("1 to 336 hours")))
        unit = None
        if get("unit"):
            unit = self.units.get(get("unit"))
            if unit is None:
                errs.append(RowError(n, "unit", _("unknown unit %(v)s") % {"v": get("unit")}))
        if len(get("location", "")) > 60:
            errs.append(RowError(n, "location", _("at most 60 characters")))
        if errs:
            return None, errs
        return (
            _Row(
                n=n,
                device_id=did,
                type=dtype,
                house=house,
                location=get("location") or None,
                heartbeat_seconds=hb,
                inactivity_hours=ih,
                unit=unit,
                device=device,
            ),
            [],
        )


def _write(actor, row: _Row, result: DeviceImportResult) -> None:
    device = row.device or Device.objects.filter(device_id=row.device_id).first()
    if device is None:
        _d, key = device_register(
            actor=actor,
            device_id=row.device_id,
            type=row.type,
            house=row.house,
            location=row.location or "",
            heartbeat_seconds=row.heartbeat_seconds or 600,
            inactivity_hours=row.inactivity_hours,
            unit=row.unit,
        )
        result.created += 1
        result.keys.append((row.device_id, key))
        return
    changes = {}
    for name in ("location", "heartbeat_seconds", "inactivity_hours"):
        v = getattr(row, name)
        if v is not None and getattr(device, name) != v:
            changes[name] = v
    if row.unit is not None and device.unit_id != row.unit.pk:
        changes["unit"] = row.unit
    if not changes:
        result.unchanged += 1
        return
    for k, v in changes.items():
        setattr(device, k, v)
    device.save(update_fields=list(changes))
    audit.record(
        actor=actor,
        action="perception.device_update",
        obj=device,
        details={"changed": sorted(changes)},
    )
    result.updated += 1


def devices_import(
    *, actor, path: Path, mode: str = "all", error_path: Path | None = None, progress=None
) -> DeviceImportResult:
    """Import a device file; see the module docstring."""
    require(actor, Perm.SENSING_MANAGE)
    if mode not in MODES:
        raise ValidationError(_("The mode is 'check', 'all' or 'good'."))
    result = DeviceImportResult()

    def failed() -> None:
        result.keys = []  # nothing was registered: no key to hand out

    return core_imports.rows_import(
        actor=actor,
        path=path,
        mode=mode,
        aliases=HEADER_ALIASES,
        columns=COLUMNS,
        check=_Checker(actor).check,
        write=lambda row: _write(actor, row, result),
        result=result,
        action="perception.devices_import",
        error_path=error_path,
        progress=progress,
        on_failed=failed,
    )
