"""ID numbers, region codes and pseudonyms."""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.identity import (
    PROVINCE_CODES,
    PSEUDONYM_PATTERN,
    IdError,
    Pseudonymiser,
    RegionRelation,
    _base32_of_15_bytes,
    _HmacSha256,
    check_character,
    is_valid_region,
    region_relation,
    validate_id_number,
)

KEY = Pseudonymiser("t1", b"test-key-0123456789")


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    rest_of_region = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    first17 = f"{province}{rest_of_region}{birth:%Y%m%d}{sequence}"
    return first17 + check_character(first17)


def test_published_example_number() -> None:
    # The example of GB 11643-1999 itself.
    assert validate_id_number("11010519491231002X") == "11010519491231002X"
    assert validate_id_number(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010519491231002", "id_length"),
        ("11010519491231002XX", "id_length"),
        ("1101051949123100AX", "id_format"),
        ("X10105194912310020", "id_format"),
        ("99010519491231002X", "id_region"),
        ("10010519491231002X", "id_region"),
        ("110105194902300021", "id_birth_date"),
        ("110105194913010021", "id_birth_date"),
        ("110105189912310021", "id_birth_date"),
        ("110105194912310021", "id_check_digit"),
    ],
)
def test_invalid_numbers_are_named(number: str, code: str) -> None:
    with pytest.raises(IdError) as caught:
        validate_id_number(number)
    assert caught.value.code == code
    assert number[:17] not in str(caught.value)


@given(st.from_regex(r"[0-9]{17}", fullmatch=True))
def test_the_check_character_is_iso_7064_mod_11_2(first17: str) -> None:
    # Written out: the digit at place i from the left weighs 2 ** (17 - i) modulo 11,
    # and the check value is what brings the whole sum to 1 modulo 11 (10 is X).
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(first17))
    value = (12 - total % 11) % 11
    assert check_character(first17) == ("X" if value == 10 else str(value))


@pytest.mark.parametrize("first17", ["1101051949123100", "1101051949123100A", "١" * 17, " " * 17])
def test_the_check_character_needs_17_ascii_digits(first17: str) -> None:
    with pytest.raises(ValueError, match="exactly 17 digits"):
        check_character(first17)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_the_birth_date_is_checked_as_the_calendar_has_it(birth: str) -> None:
    first17 = f"110105{birth}002"
    try:
        year = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:])).year
    except ValueError:
        expected: str | None = "impossible birth date"
    else:
        expected = None if 1900 <= year <= 2099 else "out of range"
    try:
        validate_id_number(first17 + check_character(first17))
    except IdError as error:
        assert error.code == "id_birth_date" and expected is not None and expected in str(error)
    else:
        assert expected is None


@given(valid_ids())
def test_every_correct_check_character_validates(number: str) -> None:
    assert validate_id_number(number) == number


@given(valid_ids(), st.sampled_from("0123456789X"))
def test_every_wrong_check_character_is_rejected(number: str, other: str) -> None:
    if other == number[-1]:
        return
    with pytest.raises(IdError) as caught:
        validate_id_number(number[:-1] + other)
    assert caught.value.code == "id_check_digit"


@given(valid_ids(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_a_single_digit_error_is_always_caught(number: str, position: int, shift: int) -> None:
    """MOD 11-2 detects every single-digit substitution."""
    digit = (int(number[position]) + shift) % 10
    typo = number[:position] + str(digit) + number[position + 1 :]
    with pytest.raises(IdError):
        validate_id_number(typo)


@given(valid_ids())
def test_pseudonyms_are_stable_keyed_and_shaped(number: str) -> None:
    pseudonym = KEY.pseudonym(number)
    assert re.match(PSEUDONYM_PATTERN, pseudonym)
    assert pseudonym == KEY.pseudonym(number)
    assert pseudonym.startswith("psn:t1:")
    other_key = Pseudonymiser("t2", b"another-key-0123456789")
    assert other_key.pseudonym(number).split(":")[2] != pseudonym.split(":")[2]
    assert number not in pseudonym


def test_pseudonyms_do_not_change() -> None:
    # Pseudonyms are stored and exchanged: the same key must give the same ones, always.
    key = Pseudonymiser("k1", b"0123456789abcdef")
    assert key.pseudonym("11010519491231002X") == "psn:k1:3vvfxixo22b6pes3ed3flqau"


@given(st.binary(max_size=200), st.binary(max_size=100))
def test_the_keyed_hash_is_hmac_sha256(key: bytes, message: bytes) -> None:
    assert _HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")


@given(st.binary(min_size=15, max_size=15))
def test_the_pseudonym_text_is_lower_case_base32(data: bytes) -> None:
    assert _base32_of_15_bytes(data) == base64.b32encode(data).decode("ascii").lower()


@given(valid_ids())
def test_a_pickled_pseudonymiser_makes_the_same_pseudonyms(number: str) -> None:
    copy = pickle.loads(pickle.dumps(KEY))
    assert copy == KEY and copy.pseudonym(number) == KEY.pseudonym(number)


@given(valid_ids(), st.text(alphabet=" ,;:|\t=", min_size=1, max_size=3))
def test_masking_leaves_no_id_number_in_text(number: str, separator: str) -> None:
    invalid = number[:-1] + ("0" if number[-1] != "0" else "1")
    text = f"a{separator}{number}{separator}{invalid}{separator}b"
    masked = KEY.mask_id_tokens(text)
    assert number not in masked and invalid not in masked
    assert KEY.pseudonym(number) in masked
    assert invalid[:6] + "#" * 12 in masked


def test_key_rules() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymiser("k1", b"short")
    with pytest.raises(ValueError, match="key id"):
        Pseudonymiser("Bad Id", b"0123456789abcdef")
    assert "0123456789abcdef" not in repr(Pseudonymiser("k1", b"0123456789abcdef"))


def test_regions() -> None:
    assert is_valid_region("130126")
    assert not is_valid_region("990126")
    assert not is_valid_region("13012")
    assert region_relation("130126", "130126") is RegionRelation.SAME_COUNTY
    assert region_relation("130126", "130105") is RegionRelation.SAME_CITY
    assert region_relation("130126", "130424") is RegionRelation.CROSS_CITY
    assert region_relation("130126", "410102") is RegionRelation.CROSS_PROVINCE
