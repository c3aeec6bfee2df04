"""Reads of person–house data, always through the acting post's scope, always masked.

Full ID numbers and phones never leave here: lists, searches and detail views carry masked
values only (``resident_unmask`` is the one way to a full value, and it is audited). Sensitive
tags do not exist for a post without ``people.sensitive``: they are absent from every view, and
filtering on one is refused as an unknown tag, so counts cannot reveal them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import has_perm, require
from wangge.accounts.scope import scope_for
from wangge.core.errors import NotFound, ValidationError
from wangge.core.masking import mask_id_number, mask_name, mask_phone
from wangge.people.crypto import Field, get_keyring
from wangge.people.enums import CARE_VISIT_DAYS, CareLevel, Registration, Relation
from wangge.people.models import CareAssessment, Resident, Tag
from wangge.people.pinyin import is_initials_query
from wangge.people.text import ID_RE as _ID_RE
from wangge.people.text import PHONE_RE as _PHONE_RE
from wangge.people.text import compact_query


def visible_tags(*, actor) -> QuerySet[Tag]:
    """The tags the post may see (sensitive ones only with ``people.sensitive``)."""
    qs = Tag.objects.all()
    if not has_perm(actor, Perm.PEOPLE_SENSITIVE):
        qs = qs.filter(sensitive=False)
    return qs


def care_counts(*, actor, code: str) -> dict[str, int]:
    """Residents living under a node by care colour (red, yellow, green; the cockpit's
    vulnerable-people figure). Counts only: no one is named."""
    from django.db.models import Count

    from wangge.regions import codes as C

    require(actor, Perm.PEOPLE_VIEW)
    scope_for(actor).check(code)
    qs = Resident.objects.filter(moved_out__isnull=True, **C.prefix_filter(code, "grid_code"))
    found = dict(
        qs.exclude(care_level="").values_list("care_level").annotate(n=Count("id")).order_by()
    )
    return {level: found.get(level, 0) for level in CareLevel.values}


def resident_list(*, actor, filters: dict[str, Any] | None = None) -> QuerySet[Resident]:
    """Residents in the scope, filtered by name prefix, care level, tag or grid."""
    require(actor, Perm.PEOPLE_VIEW)
    filters = filters or {}
    qs = scope_for(actor).filter(Resident.objects.filter(moved_out__isnull=True), "grid_code")
    if filters.get("name"):
        qs = qs.filter(name__startswith=filters["name"].strip())
    if filters.get("care_level"):
        try:
            qs = qs.filter(care_level=CareLevel(filters["care_level"]))
        except ValueError:
            raise ValidationError(_("Unknown care level.")) from None
    if filters.get("tag"):
        tag = visible_tags(actor=actor).filter(code=filters["tag"]).first()
        if tag is None:  # a hidden sensitive tag is as unknown as a made-up one
            raise ValidationError(_("Unknown tag %(tag)s.") % {"tag": filters["tag"]})
        qs = qs.filter(tags=tag)
    if filters.get("grid"):
        qs = qs.filter(grid_code__startswith=filters["grid"])
    return qs.select_related("house__building").order_by("grid_code", "id")


def resident_search(*, actor, q: str) -> QuerySet[Resident]:
    """By exact ID number or phone (blind index), else by name prefix or address."""
    q = (q or "").strip()
    qs = resident_list(actor=actor)
    if not q:
        return qs.none()
    keys = get_keyring()
    compact = compact_query(q)
    if _ID_RE.match(compact):
        return qs.filter(id_number_index=keys.blind_index(compact, field=Field.ID_NUMBER))
    if _PHONE_RE.match(compact):
        return qs.filter(phone_index=keys.blind_index(compact, field=Field.PHONE))
    by_name = qs.filter(name__startswith=q)
    if by_name.exists():
        return by_name
    initials = q.replace(" ", "")
    if is_initials_query(initials):  # pinyin initials: "wxy" finds 王秀英
        return qs.filter(name_initials__startswith=initials.lower())
    return qs.filter(house__building__address__contains=q)


def resident_get(*, actor, resident_id) -> Resident:
    """One resident in the scope; ``NotFound`` otherwise (also for malformed ids)."""
    require(actor, Perm.PEOPLE_VIEW)
    try:
        pk = int(resident_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such resident.")) from None
    r = Resident.objects.select_related("house__building").filter(pk=pk).first()
    if r is None or not scope_for(actor).covers(r.grid_code):
        raise NotFound(_("No such resident."))
    return r


def _full_names(actor) -> bool:
    """Posts that keep the data (grid workers, secretaries) see full names; others masked."""
    return has_perm(actor, Perm.PEOPLE_EDIT)


@dataclass(frozen=True)
class ResidentView:
    id: int
    name: str
    sex: str
    birth_year: int | None
    id_number: str
    phone: str
    registration: str
    relation: str
    grid_code: str
    address: str
    care_level: str
    visit_every_days: int | None
    tags: list[str]
    has_id_number: bool
    has_phone: bool
    # labels for people (the API keeps the codes above)
    care_label: str = ""
    relation_label: str = ""
    registration_label: str = ""
    tag_names: tuple[str, ...] = ()


def _masked_values(r: Resident) -> tuple[str, str]:
    """Masks built from the decrypted values, which never leave this function."""
    keys = get_keyring()
    idn = (
        mask_id_number(keys.decrypt(r.id_number_enc, field=Field.ID_NUMBER))
        if (r.id_number_enc)
        else ""
    )
    phone = mask_phone(keys.decrypt(r.phone_enc, field=Field.PHONE)) if r.phone_enc else ""
    return idn, phone


def resident_view(*, actor, resident: Resident, tags: list[str] | None = None) -> ResidentView:
    """The masked presentation of a resident for this post."""
    scope_for(actor).check(resident.grid_code)
    idn, phone = _masked_values(resident)
    if tags is None:
        visible = visible_tags(actor=actor)
        tags = list(visible.filter(residents=resident).values_list("code", flat=True))
    level = resident.care_level
    return ResidentView(
        id=resident.pk,
        name=resident.name if _full_names(actor) else mask_name(resident.name),
        sex=resident.sex,
        birth_year=resident.birth_date.year if resident.birth_date else None,
        id_number=idn,
        phone=phone,
        registration=resident.registration,
        relation=resident.relation,
        grid_code=resident.grid_code,
        address=str(resident.house) if resident.house_id else "",
        care_level=level,
        visit_every_days=CARE_VISIT_DAYS.get(CareLevel(level)) if level else None,
        tags=tags,
        has_id_number=bool(resident.id_number_enc),
        has_phone=bool(resident.phone_enc),
        care_label=str(CareLevel(level).label) if level else "",
        relation_label=str(Relation(resident.relation).label),
        registration_label=str(Registration(resident.registration).label),
        tag_names=tuple(_tag_names().get(t, t) for t in tags),
    )


def _tag_names() -> dict[str, str]:
    """Tag code → name in the active language (the tag table is small)."""
    from django.utils.translation import get_language

    zh = (get_language() or "").startswith("zh")
    return {
        code: (name if zh else name_en)
        for code, name, name_en in Tag.objects.values_list("code", "name", "name_en")
    }


def resident_views(*, actor, residents) -> list[ResidentView]:
    """Masked views of many residents with two queries for their visible tags."""
    residents = list(residents)
    visible = visible_tags(actor=actor)
    by_resident: dict[int, list[str]] = {r.pk: [] for r in residents}
    for rid, code in visible.filter(residents__in=residents).values_list("residents", "code"):
        by_resident.setdefault(rid, []).append(code)
    return [
        resident_view(actor=actor, resident=r, tags=by_resident.get(r.pk, [])) for r in residents
    ]


def household(*, actor, resident: Resident) -> list[ResidentView]:
    """The other members of the resident's household (masked like the resident)."""
    scope_for(actor).check(resident.grid_code)
    if not resident.house_id:
        return []
    members = (
        Resident.objects.filter(house_id=resident.house_id, moved_out__isnull=True)
        .exclude(pk=resident.pk)
        .select_related("house__building")
        .order_by("id")
    )
    return resident_views(actor=actor, residents=members)


def care_history(*, actor, resident: Resident) -> list[CareAssessment]:
    scope_for(actor).check(resident.grid_code)
    return list(
        CareAssessment.objects.filter(resident=resident)
        .select_related("assessor")
        .prefetch_related(Prefetch("assessor__user"))
    )
