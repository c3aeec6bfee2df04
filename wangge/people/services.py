"""Writes of person–house data: registering residents (encrypted), unmasking, care levels, tags.

Every write takes the acting post first, checks its permission and scope, and is audited with
personal data masked. Unmasking is explicit per record and field, with a reason, rate-limited
per post; a child's record (under 14) needs the community secretary's approval first.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require
from wangge.accounts.scope import scope_for
from wangge.core import audit
from wangge.core.errors import NotFound, PermissionDenied, ValidationError
from wangge.core.ratelimit import limited
from wangge.people.crypto import Field, get_keyring, normalize_phone
from wangge.people.enums import CareLevel, PersonalField, Registration, Relation
from wangge.people.idcard import validate_id_number
from wangge.people.models import CareAssessment, House, Resident, ResidentTag, Tag, UnmaskApproval
from wangge.people.pinyin import initials

logger = logging.getLogger("wangge.security")
CHILD_AGE = 14

# Vulnerable groups and other tags; sensitive ones are visible only with people.sensitive.
DEFAULT_TAGS = [
    ("elderly_alone", "独居老人", "Elderly living alone", False),
    ("empty_nest", "空巢老人", "Empty-nest elderly", False),
    ("left_behind_child", "留守儿童", "Left-behind child", False),
    ("child_in_difficulty", "困境儿童", "Child in difficulty", True),
    ("disabled", "残疾人", "Disabled", True),
    ("seriously_ill", "重病患者", "Seriously ill", True),
    ("mental_health", "精神障碍患者", "Mental-health services", True),
    ("subsistence", "低保户", "Subsistence allowance", False),
    ("veteran", "退役军人", "Veteran", False),
]


def tags_install(*, actor) -> int:
    """Create the default tags (idempotent)."""
    require(actor, Perm.PLACES_IMPORT)
    for code, name, name_en, sensitive in DEFAULT_TAGS:
        Tag.objects.update_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "sensitive": sensitive}
        )
    return len(DEFAULT_TAGS)


def _phone_ok(phone: str) -> str:
    digits = normalize_phone(phone)
    if not (digits.isdigit() and 7 <= len(digits) <= 12):
        raise ValidationError(_("A phone number has 7 to 12 digits."), code="invalid_phone")
    return digits


@transaction.atomic
def resident_register(
    *,
    actor,
    house: House,
    name: str,
    id_number: str = "",
    phone: str = "",
    registration: str = Registration.HOUSEHOLD,
    relation: str = Relation.HEAD,
    moved_in: date | None = None,
    contacts: list[dict] | None = None,
) -> Resident:
    """A new resident of a house. The ID number is validated (and gives sex and birth date);
    the ID number and phone are stored only encrypted, with a blind index for search."""
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(house.grid_code)
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("A name is required."))
    keys = get_keyring()
    fields = {
        "house": house,
        "grid_code": house.grid_code,
        "name": name[:50],
        "name_initials": initials(name[:50]),
        "registration": Registration(registration),
        "relation": Relation(relation),
        "moved_in": moved_in,
    }
    if id_number:
        info = validate_id_number(id_number)
        fields.update(
            id_number_enc=keys.encrypt(info.number, field=Field.ID_NUMBER),
            id_number_index=keys.blind_index(info.number, field=Field.ID_NUMBER),
            sex=info.sex,
            birth_date=info.birth_date,
        )
    if phone:
        digits = _phone_ok(phone)
        fields.update(
            phone_enc=keys.encrypt(digits, field=Field.PHONE),
            phone_index=keys.blind_index(digits, field=Field.PHONE),
        )
    if contacts:
        fields["contacts_enc"] = keys.encrypt(
            json.dumps(contacts, ensure_ascii=False), field="contacts"
        )
    try:
        with transaction.atomic():
            resident = Resident.objects.create(**fields)
    except IntegrityError:
        raise ValidationError(
            _("A resident with this ID number is already registered."), code="duplicate_id_number"
        ) from None
    if relation == Relation.HEAD and house.head_id is None:
        House.objects.filter(pk=house.pk).update(head=resident)
    audit.record(
        actor=actor,
        action="people.register",
        obj=resident,
        details={"house": house.pk, "name": name},
    )
    return resident


def _age(resident: Resident, today: date | None = None) -> int | None:
    if resident.birth_date is None:
        return None
    today = today or timezone.localdate()
    b = resident.birth_date
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def is_child(resident: Resident) -> bool:
    age = _age(resident)
    return age is not None and age < CHILD_AGE


@transaction.atomic
def child_unmask_approve(
    *, actor, resident: Resident, post, reason: str, hours: int = 24
) -> UnmaskApproval:
    """The community secretary lets ``post`` unmask a child's record for a while."""
    require(actor, Perm.PEOPLE_APPROVE_CHILD)
    scope_for(actor).check(resident.grid_code)
    if not (reason or "").strip():
        raise ValidationError(_("Give the reason for the approval."))
    approval = UnmaskApproval.objects.create(
        resident=resident,
        post=post,
        approved_by=actor,
        reason=reason.strip()[:300],
        expires_at=timezone.now() + timedelta(hours=hours),
    )
    audit.record(
        actor=actor,
        action="people.approve_child_unmask",
        obj=resident,
        details={"for_post": post.pk, "reason": reason, "hours": hours},
    )
    return approval


def resident_unmask(
    *, actor, resident: Resident, field: str, reason: str, ref: str = "", request=None
) -> str:
    """The full value of one personal field of one record, for a stated reason. Audited —
    refusals too: they are recorded in their own transaction before the error is raised."""
    require(actor, Perm.PEOPLE_UNMASK)
    scope_for(actor).check(resident.grid_code)  # NotFound outside the scope
    try:
        field = PersonalField(field)
    except ValueError:
        raise ValidationError(_("Unknown field %(field)s.") % {"field": field}) from None
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise ValidationError(
            _(
                "Say why you need the full value (at least 4 characters), and the event or task "
                "it serves."
            ),
            code="reason_required",
        )
    if (
        is_child(resident)
        and not UnmaskApproval.objects.filter(
            resident=resident, post=actor, expires_at__gt=timezone.now()
        ).exists()
    ):
        audit.record(
            actor=actor,
            action="people.unmask",
            obj=resident,
            request=request,
            details={"field": field.value, "reason": reason, "ref": ref},
            outcome="denied",
        )
        raise PermissionDenied(
            _("This is a child's record: the community secretary must approve unmasking it."),
        )
    if limited(f"unmask:{actor.pk}", limit=settings.WANGGE_UNMASK_PER_HOUR, window=3600):
        audit.record(
            actor=actor,
            action="people.unmask_refused",
            obj=resident,
            request=request,
            details={"field": field.value, "reason": reason},
            outcome="denied",
        )
        logger.warning(
            "security alert: post %s exceeded %s unmasks an hour",
            actor.pk,
            settings.WANGGE_UNMASK_PER_HOUR,
        )
        raise PermissionDenied(
            _(
                "Too many records unmasked in the last hour; the security administrator has been "
                "alerted."
            ),
            code="unmask_rate",
        )
    with transaction.atomic():
        return _unmask(
            actor=actor, resident=resident, field=field, reason=reason, ref=ref, request=request
        )


def _unmask(
    *, actor, resident: Resident, field: PersonalField, reason: str, ref: str, request
) -> str:
    keys = get_keyring()
    if field == PersonalField.NAME:
        value = resident.name
    else:
        token = resident.id_number_enc if field == PersonalField.ID_NUMBER else resident.phone_enc
        if not token:
            raise NotFound(_("This record has no such value."))
        value = keys.decrypt(token, field=field.value)
    audit.record(
        actor=actor,
        action="people.unmask",
        obj=resident,
        request=request,
        details={"field": field.value, "reason": reason, "ref": ref},
    )
    return value


@transaction.atomic
def care_level_set(*, actor, resident: Resident, level: str, reason: str) -> CareAssessment:
    """A new assessment; the resident's current level follows it. The history is kept."""
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(resident.grid_code)
    level = CareLevel(level)
    if not (reason or "").strip():
        raise ValidationError(_("Give the reason for the care level."))
    a = CareAssessment.objects.create(
        resident=resident,
        level=level,
        reason=reason.strip()[:300],
        assessor=actor if getattr(actor, "pk", None) else None,  # None: the platform (imports)
    )
    Resident.objects.filter(pk=resident.pk).update(care_level=level)
    resident.care_level = level
    audit.record(
        actor=actor,
        action="people.care_level",
        obj=resident,
        details={"level": level.value, "reason": reason},
    )
    return a


@transaction.atomic
def resident_tag_set(*, actor, resident: Resident, tag_code: str, on: bool = True) -> None:
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(resident.grid_code)
    tag = Tag.objects.filter(code=tag_code).first()
    if tag is None or (tag.sensitive and not _sees_sensitive(actor)):
        raise ValidationError(_("Unknown tag %(tag)s.") % {"tag": tag_code})
    if on:
        ResidentTag.objects.get_or_create(resident=resident, tag=tag)
    else:
        ResidentTag.objects.filter(resident=resident, tag=tag).delete()
    audit.record(
        actor=actor, action="people.tag", obj=resident, details={"tag": tag.code, "on": on}
    )


def _sees_sensitive(actor) -> bool:
    from wangge.accounts.rules import has_perm

    return has_perm(actor, Perm.PEOPLE_SENSITIVE)


# --- key rotation -------------------------------------------------------------------------------
ENCRYPTED_FIELDS = (
    ("id_number_enc", Field.ID_NUMBER),
    ("phone_enc", Field.PHONE),
    ("contacts_enc", "contacts"),
)


def keys_rotate(*, actor) -> str:
    """Make a new encryption key active (old keys stay for reading). Returns its key id."""
    require(actor, Perm.PLACES_IMPORT)  # the platform itself or the system administrator
    keys = get_keyring()
    rotated = keys.rotate()
    rotated.save(settings.DATA_DIR)
    from wangge.people.crypto import reset_keyring

    reset_keyring()
    audit.record(
        actor=actor,
        action="keys.rotate",
        details={"active": rotated.active_key_id, "keys": list(rotated.key_ids)},
    )
    return rotated.active_key_id


def keys_reencrypt(*, actor, batch: int = 2000, progress=None) -> int:
    """Re-encrypt every stored value not under the active key; blind indexes stay as they are.
    Idempotent and resumable: each batch is its own transaction."""
    require(actor, Perm.PLACES_IMPORT)
    keys = get_keyring()
    prefix = f"{keys.cipher}:{keys.active_key_id}:"
    changed = 0
    last = 0
    while True:
        rows = list(Resident.objects.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            break
        last = rows[-1].pk
        dirty = []
        for r in rows:
            touched = False
            for attr, field in ENCRYPTED_FIELDS:
                token = getattr(r, attr)
                if token and not token.startswith(prefix):
                    setattr(r, attr, keys.reencrypt(token, field=field))
                    touched = True
            if touched:
                dirty.append(r)
        with transaction.atomic():
            Resident.objects.bulk_update(dirty, [a for a, _f in ENCRYPTED_FIELDS])
        changed += len(dirty)
        if progress:
            progress.advance(len(rows))
    audit.record(
        actor=actor,
        action="keys.reencrypt",
        details={"active": keys.active_key_id, "rows": changed},
    )
    return changed


# --- corrections (door-to-door verification and the record page) -------------------------------
PERSONAL_MASKS = {
    "name": "mask_name",
    "id_number": "mask_id_number",
    "phone": "mask_phone",
}


def _masked(field: str, value: str) -> str:
    from wangge.core import masking

    name = PERSONAL_MASKS.get(field)
    return getattr(masking, name)(value) if (name and value) else (value or "")


@transaction.atomic
def resident_correct(*, actor, resident: Resident, changes: dict[str, str]) -> list[tuple]:
    """Correct fields of a resident (name, id_number, phone, registration, relation). Returns
    ``(field, old, new)`` for each field that really changed, personal values masked. The ID
    number is validated (and gives sex and birth date again) and must not belong to another
    record; phones are checked. Nothing is written when a value is invalid."""
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(resident.grid_code)
    keys = get_keyring()
    diffs: list[tuple] = []
    updates: dict = {}
    for field, value in changes.items():
        value = (value or "").strip()
        if field == "name":
            if not value:
                raise ValidationError(_("A name is required."), code="invalid_name")
            if value[:50] != resident.name:
                diffs.append((field, _masked(field, resident.name), _masked(field, value)))
                updates["name"] = value[:50]
                updates["name_initials"] = initials(value[:50])
        elif field == "id_number":
            if not value:
                continue  # an ID number is never erased on site
            info = validate_id_number(value)
            index = keys.blind_index(info.number, field=Field.ID_NUMBER)
            if index == resident.id_number_index:
                continue
            if Resident.objects.filter(id_number_index=index).exclude(pk=resident.pk).exists():
                raise ValidationError(
                    _("A resident with this ID number is already registered."),
                    code="duplicate_id_number",
                )
            old = (
                keys.decrypt(resident.id_number_enc, field=Field.ID_NUMBER)
                if resident.id_number_enc
                else ""
            )
            diffs.append((field, _masked(field, old), _masked(field, info.number)))
            updates.update(
                id_number_enc=keys.encrypt(info.number, field=Field.ID_NUMBER),
                id_number_index=index,
                sex=info.sex,
                birth_date=info.birth_date,
            )
        elif field == "phone":
            digits = _phone_ok(value) if value else ""
            index = keys.blind_index(digits, field=Field.PHONE) if digits else ""
            if index == resident.phone_index:
                continue
            old = keys.decrypt(resident.phone_enc, field=Field.PHONE) if resident.phone_enc else ""
            diffs.append((field, _masked(field, old), _masked(field, digits)))
            updates.update(
                phone_enc=keys.encrypt(digits, field=Field.PHONE) if digits else "",
                phone_index=index,
            )
        elif field in ("registration", "relation"):
            enum = Registration if field == "registration" else Relation
            try:
                new = enum(value)
            except ValueError:
                raise ValidationError(
                    _("Unknown value %(value)s for %(field)s.") % {"value": value, "field": field},
                    code="invalid_choice",
                ) from None
            if new != getattr(resident, field):
                diffs.append((field, getattr(resident, field), new.value))
                updates[field] = new.value
        else:
            raise ValidationError(_("Unknown field %(field)s.") % {"field": field})
    if updates:
        try:
            with transaction.atomic():
                Resident.objects.filter(pk=resident.pk).update(**updates, updated_at=timezone.now())
        except IntegrityError:
            raise ValidationError(
                _("A resident with this ID number is already registered."),
                code="duplicate_id_number",
            ) from None
        for k, v in updates.items():
            setattr(resident, k, v)
        audit.record(
            actor=actor,
            action="people.correct",
            obj=resident,
            details={"changes": [{"field": f, "old": o, "new": n} for f, o, n in diffs]},
        )
    return diffs


@transaction.atomic
def resident_move_out(*, actor, resident: Resident, on: date | None = None) -> None:
    """The resident no longer lives in the house; the record stays (with its history)."""
    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(resident.grid_code)
    on = on or timezone.localdate()
    Resident.objects.filter(pk=resident.pk).update(moved_out=on, updated_at=timezone.now())
    resident.moved_out = on
    if resident.house_id:
        House.objects.filter(pk=resident.house_id, head_id=resident.pk).update(head=None)
    audit.record(
        actor=actor, action="people.move_out", obj=resident, details={"on": on.isoformat()}
    )


@transaction.atomic
def resident_move_in(*, actor, resident: Resident, house: House, on: date | None = None) -> None:
    """A resident already on record (e.g. from another house in the scope) moves in."""
    require(actor, Perm.PEOPLE_EDIT)
    scope = scope_for(actor)
    scope.check(resident.grid_code)
    scope.check(house.grid_code)
    on = on or timezone.localdate()
    Resident.objects.filter(pk=resident.pk).update(
        house=house,
        grid_code=house.grid_code,
        moved_in=on,
        moved_out=None,
        updated_at=timezone.now(),
    )
    resident.house, resident.grid_code, resident.moved_in, resident.moved_out = (
        house,
        house.grid_code,
        on,
        None,
    )
    audit.record(
        actor=actor,
        action="people.move_in",
        obj=resident,
        details={"house": house.pk, "on": on.isoformat()},
    )


@transaction.atomic
def house_use_set(*, actor, house: House, use: str) -> tuple[str, str] | None:
    """Set what a house is used for; returns ``(old, new)`` or None when unchanged."""
    from wangge.people.enums import HouseUse

    require(actor, Perm.PEOPLE_EDIT)
    scope_for(actor).check(house.grid_code)
    try:
        new = HouseUse(use)
    except ValueError:
        raise ValidationError(
            _("Unknown value %(value)s for %(field)s.") % {"value": use, "field": "use"},
            code="invalid_choice",
        ) from None
    if new == house.use:
        return None
    old = house.use
    House.objects.filter(pk=house.pk).update(use=new.value)
    house.use = new.value
    audit.record(
        actor=actor, action="people.house_use", obj=house, details={"old": old, "new": new.value}
    )
    return old, new.value


def place_counts_refresh() -> dict[str, int]:
    """Write every place's ``residents`` (living there, not moved out) and ``households``
    (houses) from the person–house data: one GROUP BY a table, summed up the tree. The cockpit
    and the region browser read these columns instead of counting millions of rows per view;
    the demo runs this after generating people, the worker hourly, an import when it ends."""
    from collections import Counter

    from django.db.models import Count

    from wangge.regions import codes as C
    from wangge.regions.models import Grid, Region

    residents: Counter[str] = Counter()
    households: Counter[str] = Counter()
    for into, qs in (
        (residents, Resident.objects.filter(moved_out__isnull=True)),
        (households, House.objects.all()),
    ):
        for code, n in qs.values_list("grid_code").annotate(n=Count("id")).order_by():
            for k in [*C.ancestor_codes(code), code]:
                into[k] += n
    changed = 0
    for model in (Region, Grid):
        rows = []
        for p in model.objects.only("id", "code", "residents", "households").iterator(2000):
            new = (residents.get(p.code, 0), households.get(p.code, 0))
            if (p.residents, p.households) != new:
                p.residents, p.households = new
                rows.append(p)
        model.objects.bulk_update(rows, ["residents", "households"], batch_size=2000)
        changed += len(rows)
    return {
        "places changed": changed,
        "residents": residents.get(C.CITY_CODE, 0),
        "households": households.get(C.CITY_CODE, 0),
    }
