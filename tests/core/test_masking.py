import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangge.core.masking import mask_details, mask_id_number, mask_name, mask_phone


@pytest.mark.parametrize(
    "value,masked",
    [
        ("510104199001011234", "510104********1234"),
        ("51010419900101123X", "510104********123X"),
        ("510104900101123", "510104*****1123"),  # old 15-digit numbers
        (None, ""),
        ("", ""),
        ("1", "*"),
        ("1234", "1**4"),
        ("12345678", "12****78"),
    ],
)
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    "value,masked",
    [
        ("13812345678", "138****5678"),
        (13812345678, "138****5678"),
        ("028-1234567", "028****4567"),
        ("0281234567", "02******67"),
        ("12345", "1***5"),
        (None, ""),
        ("", ""),
        ("7", "*"),
    ],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    "value,masked",
    [
        ("张小华", "张*华"),
        ("张华", "张*"),
        ("欧阳娜娜", "欧**娜"),
        ("王", "*"),
        ("John Smith", "J********h"),
        (None, ""),
        ("", ""),
    ],
)
def test_mask_name(value, masked):
    assert mask_name(value) == masked


def test_masking_is_idempotent():
    assert mask_id_number(mask_id_number("510104199001011234")) == "510104********1234"
    assert mask_phone(mask_phone("13812345678")) == "138****5678"
    assert mask_name(mask_name("张小华")) == "张*华"


id_numbers = st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True)
phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(id_numbers)
def test_id_number_never_shown_whole(value):
    masked = mask_id_number(value)
    assert len(masked) == len(value) == 18
    assert value not in masked
    assert masked == value[:6] + "*" * 8 + value[-4:]


@given(phones)
def test_phone_never_shown_whole(value):
    masked = mask_phone(value)
    assert len(masked) == len(value) == 11
    assert value not in masked
    assert masked == value[:3] + "****" + value[-4:]


@given(st.text(alphabet=st.characters(exclude_characters="*"), max_size=40))
def test_any_text_keeps_its_length_and_hides_something(value):
    for mask in (mask_id_number, mask_phone, mask_name):
        masked = mask(value)
        assert len(masked) == len(value)
        if value:
            assert masked != value
            assert "*" in masked


def test_mask_details_masks_personal_keys_at_any_depth():
    details = {
        "id_number": "510104199001011234",
        "ID_NO": "510104199001011234",
        "contact_phone": "13812345678",
        "phone_number": "13912345678",
        "Mobile": 13712345678,
        "name": "张小华",
        "full_name": "李四",
        "resident": {"name": "王五六", "tags": ["elderly"], "age": 81},
        "changes": [{"field": "phone", "before": "x"}, {"mobile": ["13812345678", None]}],
        "phone": {"before": "13812345678", "after": "13912345678"},
        "grid": "510104001001001",
        "count": 3,
        "ok": True,
    }
    original = copy.deepcopy(details)
    masked = mask_details(details)
    assert details == original  # the input is not changed
    assert masked == {
        "id_number": "510104********1234",
        "ID_NO": "510104********1234",
        "contact_phone": "138****5678",
        "phone_number": "139****5678",
        "Mobile": "137****5678",
        "name": "张*华",
        "full_name": "李*",
        "resident": {"name": "王*六", "tags": ["elderly"], "age": 81},
        "changes": [{"field": "phone", "before": "x"}, {"mobile": ["138****5678", None]}],
        "phone": {"before": "138****5678", "after": "139****5678"},
        "grid": "510104001001001",
        "count": 3,
        "ok": True,
    }


def test_mask_details_of_nothing():
    assert mask_details(None) == {}
    assert mask_details({}) == {}
