"""Pinyin initials of names, for search (``wxy`` finds 王秀英).

``pypinyin`` gives each character's reading; it is slow per call (≈ 0.2 ms a name), so readings
are cached per character, which makes a name cost about a microsecond after warm-up (imports
compute this for every resident). Surnames with a special reading (单 Shàn, 曾 Zēng, 仇 Qiú …)
are read as surnames in the first position.
"""

from __future__ import annotations

import re

# Surnames whose reading differs from the character's most common one.
SURNAME_INITIALS = {
    "单": "s",
    "曾": "z",
    "仇": "q",
    "区": "o",
    "解": "x",
    "查": "z",
    "朴": "p",
    "盖": "g",
    "乐": "y",
    "缪": "m",
    "尉": "y",
    "翟": "z",
    "覃": "q",
    "召": "s",
    "繁": "p",
    "瞿": "q",
    "秘": "b",
    "长": "z",
    "祭": "z",
    "洗": "x",
    "员": "y",
    "种": "c",
    "藏": "z",
    "重": "c",
}
QUERY_RE = re.compile(r"^[A-Za-z]{2,10}$")


_CACHE: dict[str, str] = {}


def _initial(ch: str) -> str:
    """The initial of one character (cached; at most the CJK repertoire is ever stored)."""
    got = _CACHE.get(ch)
    if got is not None:
        return got
    if ch.isascii():
        got = ch.lower() if ch.isalpha() else ""
    else:
        from pypinyin import Style, lazy_pinyin

        reading = lazy_pinyin(ch, style=Style.FIRST_LETTER, errors="ignore")
        got = reading[0][:1].lower() if reading and reading[0] else ""
    _CACHE[ch] = got
    return got


def initials(name: str) -> str:
    """``王秀英`` → ``wxy``; ``单雄信`` → ``sxx``; letters pass through; the rest is skipped."""
    if not name:
        return ""
    get = _CACHE.get
    first = SURNAME_INITIALS.get(name[0]) or get(name[0]) or _initial(name[0])
    rest = "".join([get(c) if c in _CACHE else _initial(c) for c in name[1:]])
    return (first + rest)[:20]


def is_initials_query(q: str) -> bool:
    return bool(QUERY_RE.match(q or ""))
