"""The rule table: installing the shipped defaults, adding and changing rules."""

from __future__ import annotations

import csv
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from wangge.core import audit
from wangge.core.errors import Conflict, ValidationError
from wangge.points import access
from wangge.points.access import PointsPerm
from wangge.points.enums import LEDGER_KINDS
from wangge.points.ledger import (
    q,
)
from wangge.points.models import Rule

RULES_FILE = Path(__file__).parent.parent / "data" / "rules.csv"
MAX_POINTS = Decimal("1000")
_ACTION = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


# --- the rule table -----------------------------------------------------------------------------
def amount_clean(value, name: str, *, optional: bool = False, positive: bool = False):
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise ValidationError(
            _("%(name)s is required.") % {"name": name},
            code=f"invalid_{name}",
            details={"fields": {name: _("required")}},
        )
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        d = None
    if (
        d is None
        or not d.is_finite()
        or abs(d) > MAX_POINTS
        or d != d.quantize(Decimal("0.01"))
        or (positive and d <= 0)
    ):
        raise ValidationError(
            _("%(name)s must be a number with at most two decimals, up to ±1000%(pos)s.")
            % {"name": name, "pos": _(", above 0") if positive else ""},
            code=f"invalid_{name}",
            details={"fields": {name: _("not a valid amount")}},
        )
    return q(d)


def _months(value):
    if value is None or (isinstance(value, str) and not value.strip()) or value == 0:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = -1
    if not 1 <= n <= 120:
        raise ValidationError(
            _("Validity is a number of months from 1 to 120, or empty for never."),
            code="invalid_valid_months",
            details={"fields": {"valid_months": _("1–120 or empty")}},
        )
    return n


def rule_values(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = (data["name"] or "").strip()[:60]
        if not out["name"]:
            raise ValidationError(
                _("A name is required."), code="invalid_name", details={"fields": {"name": ""}}
            )
    if "name_en" in data:
        out["name_en"] = (data["name_en"] or "").strip()[:100]
    if "points" in data:
        out["points"] = amount_clean(data["points"], "points")
    for cap in ("daily_cap", "monthly_cap"):
        if cap in data:
            out[cap] = amount_clean(data[cap], cap, optional=True, positive=True)
    if "valid_months" in data:
        out["valid_months"] = _months(data["valid_months"])
    if "is_active" in data:
        out["is_active"] = bool(data["is_active"])
    return out


def as_text(v) -> str:
    return "" if v is None else str(v)


def points_rules_install(*, actor, path: Path = RULES_FILE, update: bool = False) -> int:
    """Load the shipped rule table; existing rules keep the administrator's edits unless
    ``update``. Idempotent; returns how many rules were created."""
    access.require(actor, PointsPerm.EDIT)
    n = 0
    with transaction.atomic(), open(path, encoding="utf-8") as fh:
        by_action = {r.action: r for r in Rule.objects.select_for_update()}
        for row in csv.DictReader(fh):
            values = rule_values(
                {
                    "name": row["name"],
                    "name_en": row["name_en"],
                    "points": row["points"],
                    "daily_cap": row["daily_cap"],
                    "monthly_cap": row["monthly_cap"],
                    "valid_months": row["valid_months"],
                    "is_active": row["active"] == "1",
                }
            )
            existing = by_action.get(row["action"])
            if existing is None:
                by_action[row["action"]] = Rule.objects.create(action=row["action"], **values)
                n += 1
            elif update:
                for k, v in values.items():
                    setattr(existing, k, v)
                existing.save()
        if n or update:
            audit.record(actor=actor, action="points.rules_install", details={"created": n})
    return n


@transaction.atomic
def rule_create(*, actor, action: str, **values) -> Rule:
    """A new rule, for a fact kind that an app awards through ``points_award``."""
    access.require(actor, PointsPerm.EDIT)
    action = (action or "").strip()
    if not _ACTION.match(action) or action in LEDGER_KINDS:
        raise ValidationError(
            _("The action is a code of lower-case letters, digits and _ (e.g. care_visit)."),
            code="invalid_action",
            details={"fields": {"action": _("not a valid code")}},
        )
    if Rule.objects.filter(action=action).exists():
        raise Conflict(_("A rule for %(action)s exists already.") % {"action": action})
    data = {"name": action, "name_en": "", "points": None, **values}
    rule = Rule.objects.create(action=action, **rule_values(data))
    audit.record(
        actor=actor,
        action="points.rule_create",
        obj=rule,
        details={k: as_text(getattr(rule, k)) for k in _AUDITED},
    )
    return rule


_AUDITED = ("points", "daily_cap", "monthly_cap", "valid_months", "is_active", "name", "name_en")


@transaction.atomic
def rule_update(*, actor, rule: Rule, **changes) -> Rule:
    """Change a rule. Awards already made keep what they were given; new facts score under
    the new terms (a recompute then reports the difference for the old ones)."""
    access.require(actor, PointsPerm.EDIT)
    unknown = set(changes) - set(_AUDITED)
    if unknown:
        raise ValidationError(
            _("Unknown field %(field)s.") % {"field": sorted(unknown)[0]}, code="invalid_field"
        )
    values = rule_values(changes)
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    before = {k: as_text(getattr(rule, k)) for k in values}
    for k, v in values.items():
        setattr(rule, k, v)
    rule.save()
    after = {k: as_text(getattr(rule, k)) for k in values}
    changed = {k: [before[k], after[k]] for k in values if before[k] != after[k]}
    if changed:
        audit.record(
            actor=actor,
            action="points.rule_update",
            obj=rule,
            details={"rule": rule.action, "changed": changed},
        )
    return rule
