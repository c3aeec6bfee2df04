"""Template helpers of the points pages (and the menu link in the base layout)."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from wangge.points.access import points_perms

register = template.Library()


@register.filter
def points_menu(post) -> bool:
    """Whether the post has any points page (the menu and top bar link)."""
    return bool(points_perms(post))


@register.filter
def localname(obj) -> str:
    """A rule's or a reward's name in the page's language."""
    en = getattr(obj, "name_en", "")
    return en if get_language() == "en" and en else obj.name


@register.filter
def signed(value) -> str:
    """Points with their sign: +2, −2, 0, +0.5."""
    from decimal import Decimal

    d = Decimal(value).normalize()
    text = format(d.quantize(Decimal(1)) if d == d.to_integral() else d, "f")
    if d > 0:
        return f"+{text}"
    if d < 0:
        return "−" + text.lstrip("-")
    return "0"


@register.filter
def amount(value) -> str:
    """Points without trailing zeros: 12, 0.5, -3."""
    from decimal import Decimal

    d = Decimal(value)
    return format(d.quantize(Decimal(1)) if d == d.to_integral() else d.normalize(), "f")
