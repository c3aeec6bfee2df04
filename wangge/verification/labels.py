"""Names and labels for verification pages (no data access beyond place names)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from wangge.regions.models import Grid, Region
from wangge.verification.models import FieldChange


def place_names(codes: list[str]) -> dict[str, str]:
    out = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
    out.update(Grid.objects.filter(code__in=codes).values_list("code", "name"))
    return out


def _labels() -> dict[str, tuple[str, dict[str, str]]]:
    from wangge.people.enums import HouseUse, Registration, Relation

    return {
        "name": (_("Name"), {}),
        "id_number": (_("ID number"), {}),
        "phone": (_("Phone"), {}),
        "registration": (_("Registration"), dict(Registration.choices)),
        "relation": (_("Relation to the head"), dict(Relation.choices)),
        "moved_out": (_("Moved out"), {}),
        "use": (_("Use of the house"), dict(HouseUse.choices)),
        "resident": (_("Resident"), {}),
    }


@dataclass(frozen=True)
class ChangeView:
    change: FieldChange
    field_label: str
    old: str
    new: str


def change_views(changes) -> list[ChangeView]:
    """Changes with the field's name and coded values in the active language."""
    labels = _labels()
    out = []
    for c in changes:
        label, values = labels.get(c.field, (c.field, {}))
        out.append(
            ChangeView(
                c,
                str(label),
                str(values.get(c.old_value, c.old_value)),
                str(values.get(c.new_value, c.new_value)),
            )
        )
    return out


def field_label(field_code: str) -> str:
    return str(_labels().get(field_code, (field_code, {}))[0])
