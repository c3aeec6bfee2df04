"""Resident identity numbers (GB 11643-1999): check digit, birth date, area code, sex, age."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

import wangge
from wangge.core.errors import ValidationError
from wangge.people.idcard import (
    CHECK_CHARS,
    WEIGHTS,
    IdInfo,
    IdNumberError,
    Sex,
    check_char,
    is_known_area_code,
    make_id_number,
    validate_id_number,
)

STREETS = Path(wangge.__file__).parent / "data" / "chengdu" / "streets.csv"
with STREETS.open(encoding="utf-8") as f:
    CHENGDU_DISTRICTS = sorted({row["areaCode"] for row in csv.DictReader(f)})

AREAS = [*CHENGDU_DISTRICTS, "110105", "310115", "440305", "650102"]
TODAY = date(2026, 1, 1)

numbers = st.builds(
    make_id_number,
    st.sampled_from(AREAS),
    st.dates(date(1900, 1, 1), date(2025, 12, 31)),
    st.integers(0, 999),
    st.sampled_from(list(Sex)),
)


def with_check(first17: str) -> str:
    return first17 + check_char(first17)


def reason_of(number: str, **kwargs) -> str:
    with pytest.raises(IdNumberError) as exc:
        validate_id_number(number, **kwargs)
    return exc.value.reason


# --- published numbers ---------------------------------------------------------------------------


def test_published_samples():
    # GB 11643-1999 §8 example, 北京市朝阳区, woman born 1949-12-31. By hand:
    # 1·7 + 1·9 + 0·10 + 1·5 + 0·8 + 5·4 + 1·2 + 9·1 + 4·6 + 9·3 + 1·7 + 2·9 + 3·10 + 1·5
    # + 0·8 + 0·4 + 2·2 = 167; 167 mod 11 = 2 → "10X98765432"[2] = X.
    info = validate_id_number("11010519491231002X")
    assert info == IdInfo("11010519491231002X", "110105", date(1949, 12, 31), Sex.FEMALE)

    # GB 11643-1999 §8 example, 广东省汕头市潮阳县 (code 440524, abolished in 1993), man born
    # 1880-01-01. 4·7 + 4·9 + 0·10 + 5·5 + 2·8 + 4·4 + 1·2 + 8·1 + 8·6 + 0·3 + 0·7 + 1·9
    # + 0·10 + 1·5 + 0·8 + 0·4 + 1·2 = 195; 195 mod 11 = 8 → "10X98765432"[8] = 4.
    info = validate_id_number("440524188001010014")
    assert (info.area_code, info.birth_date, info.sex) == ("440524", date(1880, 1, 1), Sex.MALE)

    # python-stdnum's documentation example (江西省德安县), man born 1991-01-01.
    # 3·7 + 6·9 + 0·10 + 4·5 + 2·8 + 6·4 + 1·2 + 9·1 + 9·6 + 1·3 + 0·7 + 1·9 + 0·10 + 1·5
    # + 0·8 + 0·4 + 7·2 = 231; 231 mod 11 = 0 → "10X98765432"[0] = 1.
    info = validate_id_number("360426199101010071")
    assert (info.birth_date, info.sex) == (date(1991, 1, 1), Sex.MALE)


def test_check_char_table():
    assert check_char("11010519491231002") == "X"
    assert check_char("44052418800101001") == "4"
    assert check_char("36042619910101007") == "1"
    # Σ digit × weight mod 11 → character, for each remainder 0–10 (weight of digit 17 is 2,
    # so varying it walks the remainders).
    for r in range(11):
        base = "00000000000000000"
        hits = [
            f"{base[:i]}{d}{base[i + 1 :]}"
            for i in range(17)
            for d in range(10)
            if d * WEIGHTS[i] % 11 == r
        ]
        assert hits and all(check_char(h) == CHECK_CHARS[r] for h in hits)
    with pytest.raises(ValueError):
        check_char("1234")


def test_input_is_normalised():
    assert validate_id_number(" 110105 19491231 002x ").number == "11010519491231002X"
    assert validate_id_number("１１０１０５１９４９１２３１００２Ｘ").number == "11010519491231002X"


# --- generated numbers ---------------------------------------------------------------------------


@given(
    area=st.sampled_from(AREAS),
    birth=st.dates(date(1900, 1, 1), date(2025, 12, 31)),
    seq=st.integers(0, 999),
    sex=st.sampled_from(list(Sex)),
)
def test_make_id_number_round_trip(area, birth, seq, sex):
    number = make_id_number(area, birth, seq, sex)
    info = validate_id_number(number)
    assert info == IdInfo(number, area, birth, sex)
    order = int(number[14:17])
    assert order % 2 == (1 if sex == Sex.MALE else 0)
    assert order in (seq, seq ^ 1)


def test_make_id_number_sex_parity_at_the_ends():
    birth = date(1990, 1, 1)
    assert make_id_number("510104", birth, 0, "male")[14:17] == "001"
    assert make_id_number("510104", birth, 0, "female")[14:17] == "000"
    assert make_id_number("510104", birth, 999, "female")[14:17] == "998"
    assert make_id_number("510104", birth, 999, Sex.MALE)[14:17] == "999"


@pytest.mark.parametrize(
    "args",
    [
        ("510104", date(1990, 1, 1), 1000, "male"),
        ("510104", date(1990, 1, 1), -1, "male"),
        ("51010", date(1990, 1, 1), 1, "male"),
        ("5101AB", date(1990, 1, 1), 1, "male"),
        ("510104", date(1990, 1, 1), 1, "other"),
        ("999999", date(1990, 1, 1), 1, "male"),
        ("510104", timezone.localdate() + timedelta(days=1), 1, "male"),
    ],
)
def test_make_id_number_refuses_what_cannot_be_valid(args):
    with pytest.raises(ValueError):
        make_id_number(*args)


def test_mod_11_2_catches_every_single_digit_substitution_and_adjacent_swap():
    """Why the property below holds for every number: a substitution a → b at position i moves
    the sum by w_i·(b − a), a swap of positions i, i+1 by (w_i − w_{i+1})·(b − a); with 11
    prime, both are non-zero mod 11 when no weight and no difference of neighbouring weights is
    0 mod 11 (and |b − a| ≤ 9). A different sum mod 11 gives a different check character."""
    assert all(w % 11 for w in WEIGHTS)
    assert all((a - b) % 11 for a, b in zip(WEIGHTS, WEIGHTS[1:], strict=False))
    assert all(w * d % 11 for w in WEIGHTS for d in range(1, 10))
    assert len(set(CHECK_CHARS)) == 11


@given(number=numbers, data=st.data())
def test_any_single_character_change_is_refused(number, data):
    position = data.draw(st.integers(0, 17), label="position")
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from(alphabet.replace(number[position], "")))
    changed = number[:position] + replacement + number[position + 1 :]
    # The check digit alone tells, before any other rule is looked at.
    assert reason_of(changed) == "check_digit"


@given(number=numbers, position=st.integers(0, 15))
def test_adjacent_transpositions_are_refused(number, position):
    a, b = number[position], number[position + 1]
    swapped = number[:position] + b + a + number[position + 2 :]
    if a == b:
        assert validate_id_number(swapped).number == number
    else:
        assert reason_of(swapped) == "check_digit"


# --- rules and their reasons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "number,reason,message",
    [
        ("110105491231002", "length", "15-digit numbers are no longer valid"),
        ("11010519491231002X1", "length", "not 19"),
        ("", "length", "not 0"),
        ("11010519A91231002X", "characters", "Character 9"),
        ("X10105194912310021", "characters", "Character 1"),
        ("1101051949123100XX", "characters", "Character 17"),
        ("11010519491231002Y", "characters", "last character"),
        ("110105194912310021", "check_digit", "check digit"),
        (with_check("51010419990230123"), "birth_date", "does not exist"),
        (with_check("51010419991301123"), "birth_date", "does not exist"),
        (with_check("51010400000101123"), "birth_date", "does not exist"),
        (with_check("51010417991231123"), "birth_date", "before 1800"),
        (with_check("51010420260102123"), "birth_date", "future"),
        (with_check("99999919900101123"), "area_code", "999999"),
        (with_check("00000019900101123"), "area_code", "000000"),
        (with_check("51019919900101123"), "area_code", "510199"),
        (with_check("72000019900101123"), "area_code", "720000"),
    ],
)
def test_refusals_name_their_reason(number, reason, message):
    with pytest.raises(IdNumberError, match=message) as exc:
        validate_id_number(number, today=TODAY)
    err = exc.value
    assert err.reason == reason
    assert err.as_dict()["error"] == {
        "code": "invalid_id_number",
        "message": str(err),
        "details": {"reason": reason},
    }
    assert isinstance(err, ValueError) and isinstance(err, ValidationError)
    assert err.status == 422
    if len(number) == 18:
        assert number not in str(err)


def test_birth_date_bounds():
    today = timezone.localdate()
    born_today = with_check(f"510104{today:%Y%m%d}123")
    assert validate_id_number(born_today).birth_date == today
    tomorrow = today + timedelta(days=1)
    assert reason_of(with_check(f"510104{tomorrow:%Y%m%d}123")) == "birth_date"
    assert validate_id_number(with_check("51010418000101123")).birth_date == date(1800, 1, 1)
    assert validate_id_number(with_check("51010420000229123")).birth_date == date(2000, 2, 29)
    assert reason_of(with_check("51010419000229123")) == "birth_date"  # 1900 was no leap year


@pytest.mark.parametrize("code", CHENGDU_DISTRICTS)
def test_every_chengdu_district_code_is_known(code):
    assert len(CHENGDU_DISTRICTS) == 20
    assert is_known_area_code(code)
    assert (
        validate_id_number(make_id_number(code, date(1980, 6, 1), 42, "female")).area_code == code
    )


@pytest.mark.parametrize(
    "code,known",
    [
        ("510132", True),  # 新津县 until 2020, now 510118 新津区
        ("512081", True),  # 简阳市 under 资阳 until 2016, now 510185
        ("110103", True),  # 崇文区, merged into 东城区 in 2010
        ("510100", True),  # 成都市 (city level)
        ("810000", True),  # 香港 residence permits
        ("820000", True),  # 澳门
        ("830000", True),  # 台湾 residents' residence permits
        ("510199", False),
        ("990000", False),
        ("51010", False),
        ("5101041", False),
        ("５１０１０４", False),
    ],
)
def test_area_codes(code, known):
    assert is_known_area_code(code) is known


def test_codes_are_not_matched_against_the_birth_year():
    """锦江区 has code 510104 since 1990; people born before then carry it all the same."""
    info = validate_id_number(make_id_number("510104", date(1975, 3, 9), 17, "male"))
    assert info.area_code == "510104" and info.birth_date.year == 1975


# --- sex and age ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digit,sex", [(str(d), Sex.MALE if d % 2 else Sex.FEMALE) for d in range(10)]
)
def test_sex_from_the_17th_digit(digit, sex):
    info = validate_id_number(with_check(f"5101041990010112{digit}"))
    assert info.sex == sex
    assert info.sex == ("male" if int(digit) % 2 else "female")


@pytest.mark.parametrize(
    "born,on,age",
    [
        (date(1990, 5, 20), date(1990, 5, 20), 0),
        (date(1990, 5, 20), date(2008, 5, 19), 17),
        (date(1990, 5, 20), date(2008, 5, 20), 18),
        (date(1990, 5, 20), date(2026, 1, 1), 35),
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
        (date(1949, 12, 31), date(2026, 1, 1), 76),
    ],
)
def test_age_on(born, on, age):
    info = validate_id_number(make_id_number("510104", born, 1, "female"))
    assert info.age_on(on) == age


def test_age_before_birth_is_refused():
    info = validate_id_number("11010519491231002X")
    with pytest.raises(ValueError):
        info.age_on(date(1949, 12, 30))


def test_info_is_frozen():
    info = validate_id_number("11010519491231002X")
    with pytest.raises(AttributeError):
        info.sex = Sex.MALE  # type: ignore[misc]
