"""Editing the response plans (预案): the city's, so only a post that keeps sensing for the
whole city (the system administrator) edits them."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from wangge.accounts.enums import Perm
from wangge.accounts.rules import require, rule
from wangge.accounts.scope import SYSTEM
from wangge.core import audit
from wangge.core.errors import PermissionDenied, ValidationError
from wangge.events.enums import Urgency
from wangge.events.models import Category
from wangge.perception.models import ResponsePlan

FIELDS = ("title", "title_en", "steps", "steps_en", "escalate_minutes", "category", "urgency")


def may_edit_plans(actor) -> bool:
    if actor is SYSTEM:
        return True
    try:
        return rule(actor.role).whole_city and Perm.SENSING_MANAGE in rule(actor.role).perms
    except (KeyError, ValueError, AttributeError):
        return False


@transaction.atomic
def plan_update(*, actor, plan: ResponsePlan, **values) -> ResponsePlan:
    """Change a plan; every field is checked, nothing is saved if one is wrong."""
    require(actor, Perm.SENSING_MANAGE)
    if not may_edit_plans(actor):
        raise PermissionDenied(_("Only the city's administrator edits response plans."))
    errors: dict[str, str] = {}
    clean: dict = {}
    for name in FIELDS:
        if name not in values:
            continue
        v = values[name]
        if name in ("title", "title_en"):
            v = (v or "").strip()
            if not v:
                errors[name] = _("required")
            limit = ResponsePlan._meta.get_field(name).max_length
            if len(v) > limit:
                errors[name] = _("at most %(n)s characters") % {"n": limit}
        elif name in ("steps", "steps_en"):
            lines = [line.strip() for line in (v or "").splitlines() if line.strip()]
            if not lines:
                errors[name] = _("at least one step")
            v = "\n".join(lines)
        elif name == "escalate_minutes":
            try:
                v = int(v)
            except (TypeError, ValueError):
                v = 0
            if not 1 <= v <= 240:
                errors[name] = _("1 to 240 minutes")
        elif name == "category":
            v = (v or "").strip()
            if not Category.objects.filter(code=v, parent__isnull=False).exists():
                errors[name] = _("a small category (小类) code")
        elif name == "urgency":
            if v not in Urgency.values:
                errors[name] = _("unknown value")
        clean[name] = v
    if errors:
        raise ValidationError(
            _("Check the marked fields."), code="invalid_plan", details={"fields": errors}
        )
    before = {k: getattr(plan, k) for k in clean}
    for k, v in clean.items():
        setattr(plan, k, v)
    plan.updated_by = actor if actor is not SYSTEM else None
    plan.save()
    audit.record(
        actor=actor,
        action="perception.plan_update",
        obj=plan,
        details={"changed": sorted(k for k in clean if before[k] != clean[k])},
    )
    return plan
