"""Display de-identification (GB/T 35273): ID numbers, phone numbers and names shown masked.

Every function accepts ``None`` and short or odd input and returns a string of the same length
as its input (``""`` for ``None``), never revealing more than the kept head and tail. When the
input is too short for the usual head and tail to leave enough hidden, less is kept.
"""

from __future__ import annotations

from typing import Any

MASK = "*"

# Key names (lower case, "-" read as "_") whose values are personal data.
_ID_KEYS = frozenset(
    {"id_number", "id_no", "idno", "id_card", "idcard", "id_card_no", "id_card_number"}
)
_PHONE_WORDS = frozenset({"phone", "mobile", "telephone", "tel", "cellphone"})
_NAME_KEYS = frozenset({"name", "full_name", "fullname", "real_name", "realname"})


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _keep(s: str, head: int, tail: int) -> str:
    """Keep ``head`` and ``tail`` characters; when fewer than four would be hidden, keep only a
    quarter at either end instead (so at least half stays hidden)."""
    n = len(s)
    if n < head + tail + 4:
        head = tail = n // 4
    hidden = n - head - tail
    return s[:head] + MASK * hidden + (s[n - tail :] if tail else "")


def mask_id_number(value: Any) -> str:
    """``510104199001011234`` → ``510104********1234`` (first 6 and last 4 kept)."""
    return _keep(_text(value), 6, 4)


def mask_phone(value: Any) -> str:
    """``13812345678`` → ``138****5678`` (first 3 and last 4 kept)."""
    return _keep(_text(value), 3, 4)


def mask_name(value: Any) -> str:
    """``张小华`` → ``张*华``, ``张华`` → ``张*``, ``欧阳娜娜`` → ``欧**娜`` (first and last kept;
    a two-character name keeps only the first, a one-character name nothing)."""
    s = _text(value)
    n = len(s)
    if n <= 1:
        return MASK * n
    if n == 2:
        return s[0] + MASK
    return s[0] + MASK * (n - 2) + s[-1]


def _masker_for(key: Any):
    k = str(key).strip().lower().replace("-", "_")
    if k in _ID_KEYS or k.endswith(("_id_number", "_id_no")):
        return mask_id_number
    if any(word in _PHONE_WORDS for word in k.split("_")):
        return mask_phone
    if k in _NAME_KEYS or k.endswith("_full_name"):
        return mask_name
    return None


def _mask_all(value: Any, masker) -> Any:
    """Every leaf under a sensitive key (e.g. ``{"before": …, "after": …}``) is masked."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str | int):
        return masker(value)
    if isinstance(value, dict):
        return {k: _mask_all(v, masker) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_all(v, masker) for v in value]
    return value


def _mask_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return mask_details(value)
    if isinstance(value, list | tuple):
        return [_mask_nested(v) for v in value]
    return value


def mask_details(details: dict | None) -> dict:
    """A copy of ``details`` whose personal values are masked, at any depth.

    Keys named like ``id_number``/``id_no``, ``phone``/``mobile`` (also ``contact_phone``,
    ``phone_number``) and ``name``/``full_name`` are masked; other values are kept, with
    nested dicts and lists searched the same way. The input is not changed.
    """
    if not details:
        return {}
    out: dict = {}
    for key, value in details.items():
        masker = _masker_for(key)
        out[key] = _mask_all(value, masker) if masker else _mask_nested(value)
    return out
