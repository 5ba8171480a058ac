"""Rounding only the numbers that moved gives what rounding them all gives, bit for bit."""

from __future__ import annotations

import random
import struct

from hypothesis import given
from hypothesis import strategies as st

from detectors.models import SERIES, rounded
from detectors.series import SeriesScorer

floats = st.floats(allow_nan=False, allow_infinity=False)


def bits(numbers: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in numbers]  # (tells -0.0 from 0.0)


@given(st.lists(st.tuples(floats, floats, st.booleans()), max_size=50), st.integers(0, 8))
def test_rounded_is_round_of_every_number(
    pairs: list[tuple[float, float, bool]], digits: int
) -> None:
    numbers = [new if moved else old for old, new, moved in pairs]
    stored = [round(old, digits) for old, _, _ in pairs]
    assert bits(rounded(numbers, stored, digits)) == bits([round(v, digits) for v in numbers])


def test_numbers_that_did_not_move_stay_and_those_that_did_are_rounded() -> None:
    assert bits(rounded([0.1234567, -0.0, 2.5], [0.123457, 0.0, 2.5], 6)) == bits(
        [0.123457, -0.0, 2.5]
    )
    assert rounded([1.23456789], [], 6) == [1.234568]  # nothing stored yet: all rounded


def test_a_series_learned_month_by_month_stores_the_same_numbers() -> None:
    rng = random.Random(4)
    stored_all: list[float] = []
    stored_moved: list[float] = []
    for month in range(60):
        income = rng.choice([0.0, 1800.0, 2000.0 + rng.random() * 300])
        scorer = SeriesScorer(**SERIES)  # type: ignore[arg-type]
        scorer.restore(stored_moved)
        scorer.update(income, float(month))
        numbers = scorer.numbers()
        stored_all = [round(v, 6) for v in numbers]
        stored_moved = rounded(numbers, stored_moved, 6)
        assert bits(stored_moved) == bits(stored_all)
