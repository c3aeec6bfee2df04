"""Recognising what a search text is."""

import re

ID_RE = re.compile(r"^\d{17}[\dXx]$")
PHONE_RE = re.compile(r"^\+?\d{7,15}$")


def is_exact_query(q: str) -> bool:
    """Whether a search text is an ID number or a phone number (searched by blind index)."""
    compact = (q or "").replace(" ", "")
    return bool(ID_RE.match(compact) or PHONE_RE.match(compact))
