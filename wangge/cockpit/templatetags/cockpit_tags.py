"""How the cockpit writes a KPI: counts with separators, rates in percent, times in hours."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def kpi_value(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value:.1f}%"
    if kind == "hours":
        return f"{value:.1f} {_('h')}"
    return intcomma(value)


@register.filter
def kpi_change(change, kind: str) -> str:
    """``+3.2 pp`` / ``−12``: the change against the previous period (percentage points for
    rates)."""
    if change is None:
        return ""
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    size = abs(change)
    if kind == "percent":
        return f"{sign}{size:.1f} {_('pp')}"
    if kind == "hours":
        return f"{sign}{size:.1f} {_('h')}"
    return f"{sign}{intcomma(int(size))}"


@register.filter
def kpi_trend(card) -> str:
    """``good``, ``bad`` or ``flat``: whether the change is for the better."""
    change, better = card.get("change"), card["kpi"].better
    if not change or not better:
        return "flat"
    return "good" if (change > 0) == (better > 0) else "bad"


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None
