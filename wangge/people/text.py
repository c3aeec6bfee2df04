"""Recognising what a search text is."""

import re

ID_RE = re.compile(r"^\d{17}[\dXx]$")
PHONE_RE = re.compile(r"^\+?\d{7,15}$")


_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\uff0d\u3000()（）]+")


def compact_query(q: str) -> str:
    """A search text without the spaces, hyphens and brackets people type inside numbers
    (``138-1234-5678``, ``(028) 8888 6666``, full-width ones too)."""
    return _SEPARATORS.sub("", q or "")


def is_exact_query(q: str) -> bool:
    """Whether a search text is an ID number or a phone number (searched by blind index, and
    never put in a URL)."""
    compact = compact_query(q)
    return bool(ID_RE.match(compact) or PHONE_RE.match(compact))
