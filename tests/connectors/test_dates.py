"""The fast date parser agrees with strptime and its exact round trip, value for value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.convert import _fixed_width, _month_in_formats, _strptime, _time_in_formats
from engine.events import CST

FORMATS = ["%Y%m", "%Y%m%d", "%Y-%m", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S"]


def reference(text: str, fmt: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.strptime(text, fmt)
    except ValueError:
        return None
    return parsed if parsed.strftime(fmt) == text else None


def fast(text: str, fmt: str) -> dt.datetime | None:
    try:
        return _strptime(text, fmt)
    except ValueError:
        return None


texts = st.one_of(
    st.text(alphabet="0123456789-: /x٣", max_size=20),
    st.tuples(st.datetimes(), st.sampled_from(FORMATS)).map(lambda p: p[0].strftime(p[1])),
)


@pytest.mark.parametrize("fmt", FORMATS)
@given(text=texts)
def test_the_fast_parser_accepts_and_rejects_what_strptime_does(fmt: str, text: str) -> None:
    assert fast(text, fmt) == reference(text, fmt)


def test_formats_beyond_fixed_width_digits_go_to_strptime() -> None:
    assert _fixed_width("%d/%b/%Y") is None and _fixed_width("%Y-%m-%dT%H:%M:%S%z") is None
    assert fast("05/Mar/2026", "%d/%b/%Y") == dt.datetime(2026, 3, 5)


@given(text=texts, formats=st.lists(st.sampled_from(FORMATS), min_size=1, max_size=3))
def test_a_value_is_read_by_the_first_of_its_formats_that_reads_it(
    text: str, formats: list[str]
) -> None:
    first = next((p for fmt in formats if (p := reference(text, fmt)) is not None), None)
    try:
        parsed: dt.datetime | None = _time_in_formats(text, tuple(formats))
        month: str | None = _month_in_formats(text, tuple(formats))
    except ValueError:
        parsed = month = None
    assert parsed == (first and first.replace(tzinfo=CST))
    assert month == (first and f"{first.year:04d}-{first.month:02d}")


@pytest.mark.parametrize("read", [_time_in_formats, _month_in_formats])
def test_a_value_that_is_no_date_is_never_kept(read: Any) -> None:
    # A date column may hold anything, even an ID number: only dates are cached.
    before = read.cache_info().currsize
    with pytest.raises(ValueError):
        read("110105194912310021", ("%Y%m%d", "%Y-%m-%d"))
    assert read.cache_info().currsize == before
