"""National ID numbers, region codes and keyed pseudonyms.

Raw ID numbers exist only in what departments deliver. The first component that
reads a record calls :meth:`Pseudonymiser.pseudonym`; everything after that sees
only the pseudonym. :func:`mask_id_tokens` cleans free text (rejected rows,
error messages) of anything shaped like an ID number.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import operator
import re
from dataclasses import dataclass, field
from enum import StrEnum

# GB 11643-1999: weights of the first 17 digits, and the check character for
# each value of the weighted sum modulo 11 (ISO 7064 MOD 11-2, 10 written X).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_ZERO_WEIGHT = ord("0") * sum(_WEIGHTS)

# Province-level codes of GB/T 2260 (first two digits of a region code).
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
# Anything that may hold an ID number inside free text: a run of 15 or more
# digits (15 was the length of first-generation numbers), with a trailing X.
# Deliberately wide: an ID glued to other digits (a certificate number made of
# ID + level) or a bank account is masked too.
_ID_TOKEN = re.compile(r"(?<![0-9])[0-9]{14,}[0-9Xx](?![0-9])")
_REGION_SHAPE = re.compile(r"^[0-9]{6}$")


def redact_id_tokens(text: str) -> str:
    """Mask every ID-shaped token to its first six digits (for logs: no key, no pseudonym).

    >>> redact_id_tokens("person 110105194912310021 failed")
    'person 110105############ failed'
    """
    return _ID_TOKEN.sub(lambda m: m.group(0)[:6] + "#" * (len(m.group(0)) - 6), text)


class IdError(ValueError):
    """An ID number failed validation. The message never contains the number."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits.

    >>> check_character("11010519491231002")
    'X'
    """
    digits = first17.encode("ascii", errors="replace")
    if len(digits) != 17 or not digits.isdigit():
        raise ValueError("the check character needs exactly 17 digits")
    # Bytes are character codes: each digit counts 48 ("0") too much (a third of
    # the cost of int() per character, on every ID number read).
    total = sum(map(operator.mul, digits, _WEIGHTS)) - _ZERO_WEIGHT
    return _CHECK_CHARS[total % 11]


def validate_id_number(raw: str) -> str:
    """Return the canonical form (upper-case X) of a valid ID number.

    Raises :class:`IdError` naming what is wrong, never echoing the number.

    >>> validate_id_number("11010519491231002x")
    '11010519491231002X'
    >>> validate_id_number("110105194912310021")
    Traceback (most recent call last):
    ...
    engine.identity.IdError: ID number check digit does not match
    """
    number = raw.strip().upper()
    if len(number) != 18:
        raise IdError("id_length", f"ID number must have 18 characters, got {len(number)}")
    if not _ID_SHAPE.match(number):
        raise IdError("id_format", "ID number must be 17 digits followed by a digit or X")
    if number[:2] not in PROVINCE_CODES:
        raise IdError("id_region", "ID number has no valid province prefix")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdError("id_birth_date", "ID number holds an impossible birth date") from None
    if not 1900 <= birth.year <= 2099:
        raise IdError("id_birth_date", "ID number birth year is out of range (1900-2099)")
    # Messages name the problem, never a digit of the number.
    if number[17] != check_character(number[:17]):
        raise IdError("id_check_digit", "ID number check digit does not match")
    return number


def is_valid_region(code: str) -> bool:
    """A 6-digit administrative division code with a known province prefix."""
    return bool(_REGION_SHAPE.match(code)) and code[:2] in PROVINCE_CODES


class RegionRelation(StrEnum):
    """How two region codes relate, as the centre counts them."""

    SAME_COUNTY = "same_county"
    SAME_CITY = "same_city"  # another county of the same prefecture city
    CROSS_CITY = "cross_city"  # same province, another city
    CROSS_PROVINCE = "cross_province"


def region_relation(home: str, other: str) -> RegionRelation:
    """Relate a record's region to the household's.

    >>> region_relation("130126", "130105").value
    'same_city'
    >>> region_relation("130126", "130424").value
    'cross_city'
    >>> region_relation("130126", "410102").value
    'cross_province'
    """
    if home[:2] != other[:2]:
        return RegionRelation.CROSS_PROVINCE
    if home[:4] != other[:4]:
        return RegionRelation.CROSS_CITY
    if home != other:
        return RegionRelation.SAME_CITY
    return RegionRelation.SAME_COUNTY


PSEUDONYM_PATTERN = r"^psn:[a-z0-9][a-z0-9_-]{0,15}:[a-z2-7]{24}$"
_KEY_ID_SHAPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,15}$")
MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class Pseudonymiser:
    """Keyed HMAC-SHA256 pseudonyms that name the key that made them.

    ``psn:<key id>:<24 base32 characters>``: 120 bits of the HMAC, enough that
    collisions among 10^9 people are out of reach. Rotating keys means a new key
    id; pseudonyms made under the old id stay recognisable (see docs/privacy.md).

    >>> p = Pseudonymiser("k1", b"0123456789abcdef")
    >>> p.pseudonym("11010519491231002X")
    'psn:k1:...'
    """

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID_SHAPE.match(self.key_id):
            raise ValueError(
                f"pseudonymisation key id must be 1-16 of a-z, 0-9, _ or -, got {self.key_id!r}"
            )
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(
                f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes, got {len(self.key)}"
            )

    def pseudonym(self, id_number: str) -> str:
        """Pseudonym of a *validated* ID number (call :func:`validate_id_number` first)."""
        digest = hmac.digest(self.key, id_number.encode("ascii"), "sha256")
        return f"psn:{self.key_id}:{base64.b32encode(digest[:15]).decode('ascii').lower()}"

    def mask_id_tokens(self, text: str) -> str:
        """Replace every ID-shaped token in free text.

        A valid ID number becomes its pseudonym (so a reject can still be traced
        to a person); any other run of 15 or more digits is masked to its first
        six, which name a region at most, and nobody.

        >>> p = Pseudonymiser("k1", b"0123456789abcdef")
        >>> p.mask_id_tokens("bad 110105194912310021, row 3")
        'bad 110105############, row 3'
        """

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if len(token) == 18:
                try:
                    return self.pseudonym(validate_id_number(token))
                except IdError:
                    pass
            return token[:6] + "#" * (len(token) - 6)

        return _ID_TOKEN.sub(replace, text)
