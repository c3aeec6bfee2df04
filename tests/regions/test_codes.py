from hypothesis import given
from hypothesis import strategies as st

from wangge.regions import codes as C

digits = st.text(alphabet="0123456789", min_size=1, max_size=18)


@given(prefix=digits, code=digits)
def test_prefix_range_matches_startswith(prefix, code):
    upper = C.prefix_upper_bound(prefix)
    in_range = code >= prefix and (upper is None or code < upper)
    assert in_range == code.startswith(prefix)


def test_prefix_upper_bound_carries_nines():
    assert C.prefix_upper_bound("510104") == "510105"
    assert C.prefix_upper_bound("5101049") == "510105"
    assert C.prefix_upper_bound("999") is None


def test_levels_parents_and_format():
    code = "510107005012003007"
    assert C.level_of(code) == "micro"
    assert C.parent_code(code) == "510107005012003"
    assert C.parent_code("510107") == "5101"
    assert C.parent_code("5101") is None
    assert C.ancestor_codes(code) == [
        "5101",
        "510107",
        "510107005",
        "510107005012",
        "510107005012003",
    ]
    assert C.format_code(code) == "510107 005 012 003 007"
    assert C.normalize("510107 005 012") == "510107005012"
    assert C.is_valid("510107005") and not C.is_valid("4401") and not C.is_valid("51010")
