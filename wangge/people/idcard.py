"""Chinese resident identity numbers (公民身份号码, GB 11643-1999).

An 18-character number: a 6-digit area code (GB/T 2260, the place of first registration), an
8-digit birth date ``YYYYMMDD``, a 3-digit order code (odd for men, even for women) and a check
character computed with ISO 7064 MOD 11-2 over the first 17 digits (``0``–``9`` or ``X``).

Area codes are checked against the GB/T 2260 list, historical codes included, that the
``python-stdnum`` package ships (``stdnum/cn/loc.dat``, compiled by its maintainers from the
Chinese Wikipedia tables of administrative division codes since 1980). A code is accepted when
it was ever in use: a number keeps its code after the county is merged or renamed, and people
first registered after a change get the new code whatever their birth year, so the code is not
compared with the birth date (``stdnum.cn.ric.validate`` does compare them, and rejects e.g. a
锦江区 number of someone born before 1990; it is not used here). The residence permits of Hong
Kong, Macao and Taiwan residents (港澳台居民居住证, numbers in the same format) use the codes
810000, 820000 and 830000; these are accepted too.

The first-generation 15-digit numbers stopped being valid in 2013 and are rejected. Masking for
display lives in ``wangge.core.masking.mask_id_number``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wangge.core.errors import ValidationError
from wangge.people.crypto import normalize_id_number

LENGTH = 18
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by (Σ digit × weight) mod 11
EARLIEST_BIRTH = date(1800, 1, 1)
# 港澳台居民居住证: same format, area code of Hong Kong, Macao or Taiwan residents.
RESIDENCE_PERMIT_AREA_CODES = frozenset({"810000", "820000", "830000"})

_DIGITS_17 = re.compile(r"[0-9]{17}")
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


class Sex(models.TextChoices):
    MALE = "male", gettext_lazy("Male")
    FEMALE = "female", gettext_lazy("Female")


class IdNumberError(ValidationError, ValueError):
    """Not a valid resident identity number. ``reason`` says which rule failed: ``"length"``,
    ``"characters"``, ``"check_digit"``, ``"birth_date"`` or ``"area_code"``. The message names
    the rule, never the number."""

    code = "invalid_id_number"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IdInfo:
    number: str
    area_code: str
    birth_date: date
    sex: Sex

    def age_on(self, day: date) -> int:
        """Age in completed years on ``day`` (周岁); someone born on 29 February turns a year
        older on 1 March in other years."""
        if day < self.birth_date:
            raise ValueError("day is before the birth date")
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits."""
    if not _DIGITS_17.fullmatch(first17):
        raise ValueError("expected 17 digits")
    return _check_char(first17)


def _check_char(first17: str) -> str:
    """``check_char`` of 17 ASCII digits, unchecked. The weights are 2^k mod 11 (k = 17 … 1), and
    13 ≡ 2 (mod 11), so Σ digit × weight ≡ 2 × (the digits read in base 13) (mod 11): one
    ``int()`` instead of a loop."""
    return CHECK_CHARS[2 * int(first17, 13) % 11]


@functools.lru_cache(maxsize=4096)
def is_known_area_code(code: str) -> bool:
    """Whether ``code`` is a GB/T 2260 code at province, city or county level, current or
    historical (or a residence-permit code, see the module docstring)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    if code in RESIDENCE_PERMIT_AREA_CODES:
        return True
    from stdnum import numdb

    parts = numdb.get("cn/loc").info(code)
    # A full match is a province part then a county part: [("51", {...}), ("0104", {"county": …})]
    return len(parts) == 2 and "county" in parts[1][1]


def validate_id_number(s: str, *, today: date | None = None) -> IdInfo:
    """The parts of a valid number (spaces, full-width digits and a lower-case ``x`` are
    accepted); ``IdNumberError`` otherwise. ``today`` (default: the local date) bounds the birth
    date."""
    number, birth, sex = id_number_parts(s, today=today or timezone.localdate())
    return IdInfo(number=number, area_code=number[:6], birth_date=birth, sex=sex)


def id_number_parts(s: str, *, today: date) -> tuple[str, date, Sex]:
    """``validate_id_number`` for bulk work: (number, birth date, sex), without building an
    ``IdInfo``, with ``today`` given once by the caller. The same checks, in the same order, and
    the same ``IdNumberError``."""
    number = normalize_id_number(s if isinstance(s, str) else "")
    if len(number) != LENGTH:
        if len(number) == 15 and number.isdigit():
            msg = _("An ID number has 18 characters; 15-digit numbers are no longer valid.")
        else:
            msg = _("An ID number has 18 characters, not %(n)d.") % {"n": len(number)}
        raise IdNumberError(msg, reason="length")
    if not _SHAPE.fullmatch(number):
        _refuse_characters(number)
    if number[-1] != _check_char(number[:-1]):
        raise IdNumberError(
            _("The check digit does not match: the ID number was mistyped."), reason="check_digit"
        )
    birth = _birth_date(number[6:14])
    if birth is None:
        raise IdNumberError(
            _("The birth date in the ID number does not exist."), reason="birth_date"
        )
    if birth > today:
        raise IdNumberError(
            _("The birth date in the ID number is in the future."), reason="birth_date"
        )
    if birth < EARLIEST_BIRTH:
        raise IdNumberError(
            _("The birth date in the ID number is before 1800."), reason="birth_date"
        )
    area = number[:6]
    if not is_known_area_code(area):
        raise IdNumberError(
            _("The area code %(code)s of the ID number is not a known GB/T 2260 code.")
            % {"code": area},
            reason="area_code",
        )
    return number, birth, Sex.MALE if number[16] in "13579" else Sex.FEMALE


def _refuse_characters(number: str) -> None:
    """Raise the error for the first character that is not allowed where it stands."""
    for position, ch in enumerate(number, start=1):
        allowed = "0123456789X" if position == LENGTH else "0123456789"
        if ch not in allowed:
            if position == LENGTH:
                msg = _("The last character of an ID number must be a digit or X.")
            else:
                msg = _("Character %(position)d of the ID number is not a digit.") % {
                    "position": position
                }
            raise IdNumberError(msg, reason="characters")
    raise AssertionError("no character to refuse")  # pragma: no cover


@functools.lru_cache(maxsize=1 << 16)
def _birth_date(yyyymmdd: str) -> date | None:
    """The date of eight digits ``YYYYMMDD``, or None if there is no such day (cached: an import
    meets the same few tens of thousands of days again and again)."""
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return None


def make_id_number(area_code: str, birth: date, seq: int, sex: Sex | str) -> str:
    """A valid number: ``seq`` (0–999) is the order code, its last bit set to match ``sex``
    (odd for men). ``ValueError`` (``IdNumberError``) when the parts cannot make a valid
    number."""
    if not 0 <= seq <= 999:
        raise ValueError("seq must be 0–999")
    sex = Sex(sex)
    seq = (seq & ~1) | (1 if sex is Sex.MALE else 0)
    first17 = f"{area_code}{birth:%Y%m%d}{seq:03d}"
    if not _DIGITS_17.fullmatch(first17):
        raise ValueError("area_code must be 6 digits")
    number = first17 + check_char(first17)
    validate_id_number(number)
    return number
