"""The figures the income rules predict with, against their definitions."""

from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from detectors.monthly import _level, _median, predicted_income
from engine.state import STATE_VERSION, HouseholdState, MemberState
from engine.timeline import first_day

BASE = 300  # 2025-01


@given(st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=9))
def test_median_is_statistics_median(values: list[int]) -> None:
    expected = float(statistics.median(values))
    assert _median(values) == expected
    assert type(_median(values)) is float


@given(
    st.lists(st.integers(0, 9000) | st.just(0), min_size=18, max_size=18),
    st.integers(BASE + 2, BASE + 17),
    st.integers(BASE - 1, BASE + 6),
)
def test_a_prediction_is_at_most_the_level(wages: list[int], month: int, since: int) -> None:
    """What lets income_drop judge most months without last year's (a seasonal factor is
    at most 1)."""
    head = MemberState(
        person="P1", position=1, relation="head", joined=first_day(BASE), wages=wages
    )
    state = HouseholdState(
        v=STATE_VERSION, household="H", region="130126", scheme="dibao",
        enrolled=first_day(BASE), members=[head], base_month=BASE, since=since,
    )  # fmt: skip
    for base in (month, month - 1):
        level = _level(state, base)
        assert level >= 0
        assert predicted_income(state, month, base) <= level
