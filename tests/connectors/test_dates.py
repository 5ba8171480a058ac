"""The fast date parser agrees with strptime and its exact round trip, value for value."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.convert import _fixed_width, _strptime

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
