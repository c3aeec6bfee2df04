"""The grid code: the spine of the platform.

Every place has a code that is the path of its node in the place tree, so a code prefix
selects a whole subtree::

    5101                 city (Chengdu; the GB/T 2260 prefix of its districts)
    510107               district/county: 6-digit GB/T 2260 code
    510107 005           street/town: + 3 digits (NBS 统计用区划代码)
    510107 005 012       community/village: + 3 digits (NBS)
    510107 005 012 003   grid (general or exclusive): + 3 digits
    510107 005 012 003 007   micro-grid: + 3 digits

Codes are stored without spaces. General grids of a community are numbered from 001,
exclusive grids from 901 so the two never collide; micro-grids are numbered within their grid.
Prefix queries use a half-open range (``code >= p AND code < next(p)``) rather than ``LIKE``
so that a plain B-tree index serves them on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re

from wangge.regions.enums import Level

CITY_CODE = "5101"

LEVEL_LENGTHS: dict[Level, int] = {
    Level.CITY: 4,
    Level.DISTRICT: 6,
    Level.STREET: 9,
    Level.COMMUNITY: 12,
    Level.GRID: 15,
    Level.MICRO: 18,
}
LENGTH_LEVELS = {n: lvl for lvl, n in LEVEL_LENGTHS.items()}
EXCLUSIVE_FIRST_NUMBER = 901
_DIGITS = re.compile(r"^[0-9]+$")


def normalize(code: str) -> str:
    """Strip spaces (``510107 005`` and ``510107005`` are the same code)."""
    return "".join(str(code).split())


def is_valid(code: str) -> bool:
    return bool(_DIGITS.match(code)) and len(code) in LENGTH_LEVELS and code.startswith(CITY_CODE)


def level_of(code: str) -> Level:
    try:
        return LENGTH_LEVELS[len(code)]
    except KeyError:
        raise ValueError(f"{code!r} is not a place code") from None


def parent_code(code: str) -> str | None:
    """The code of the parent node, or None for the city."""
    n = len(code)
    lengths = sorted(LENGTH_LEVELS)
    i = lengths.index(n) if n in lengths else -1
    if i <= 0:
        return None
    return code[: lengths[i - 1]]


def ancestor_codes(code: str) -> list[str]:
    """Codes from the city down to (excluding) ``code``."""
    return [code[:n] for n in sorted(LENGTH_LEVELS) if n < len(code)]


def child_number(code: str) -> int:
    return int(code[-3:])


def format_code(code: str) -> str:
    """``510107005012003007`` → ``510107 005 012 003 007`` for people to read."""
    if len(code) <= 6:
        return code
    parts = [code[:6]] + [code[i : i + 3] for i in range(6, len(code), 3)]
    return " ".join(parts)


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest digit string greater than every string starting with ``prefix``.

    ``"510104"`` → ``"510105"``; ``"5101049"`` → ``"510105"``; all nines → None (no bound).
    """
    digits = prefix.rstrip("9")
    if not digits:
        return None
    return digits[:-1] + str(int(digits[-1]) + 1)


def prefix_filter(prefix: str, field: str = "code") -> dict[str, str]:
    """Keyword arguments for ``QuerySet.filter`` selecting ``field`` values under ``prefix``."""
    lookups = {f"{field}__gte": prefix}
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        lookups[f"{field}__lt"] = upper
    return lookups
