"""detectors/series.py: the per-series online scorer NAB measures.

Deterministic, restorable from its numbers exactly, silent on a normal
series, loud on a spike, and usable on monthly incomes (a season of 12
months) as well as on minute-level metrics.
"""

from __future__ import annotations

import math
import random

import pytest

from detectors.series import HEADER, SeriesScorer

HOUR = 3600.0


def noisy_daily(n: int, seed: int = 3) -> list[tuple[float, float]]:
    """(value, time): an hourly series with a daily cycle and noise."""
    rng = random.Random(seed)
    return [
        (100.0 + 20.0 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 2), i * HOUR)
        for i in range(n)
    ]


def scores(scorer: SeriesScorer, series: list[tuple[float, float]]) -> list[float]:
    return [scorer.update(x, t) for x, t in series]


def test_the_same_series_gives_the_same_scores() -> None:
    series = noisy_daily(600)
    first, second = scores(SeriesScorer(), series), scores(SeriesScorer(), series)
    assert first == second
    assert all(0.0 <= s <= 1.0 for s in first)


def test_restored_numbers_continue_exactly() -> None:
    series = noisy_daily(800)
    whole = scores(SeriesScorer(), series)
    before = SeriesScorer()
    scores(before, series[:400])
    numbers = before.numbers()
    assert len(numbers) == HEADER + 2 * 24
    assert all(isinstance(v, float) for v in numbers)
    after = SeriesScorer()
    after.restore(numbers)
    assert scores(after, series[400:]) == whole[400:]
    with pytest.raises(ValueError, match="keeps 67 numbers, got 3"):
        SeriesScorer().restore([1.0, 2.0, 3.0])


def test_scoring_learns_nothing() -> None:
    scorer = SeriesScorer()
    scores(scorer, noisy_daily(300))
    numbers = scorer.numbers()
    score = scorer.score_one(500.0, 300 * HOUR)
    assert scorer.numbers() == numbers
    scorer.learn_one(500.0, 300 * HOUR)
    assert scorer.numbers() != numbers
    assert SeriesScorer().update(float("nan"), 0.0) == 0.0
    assert score == 1.0


def test_a_spike_scores_higher_than_every_normal_row() -> None:
    series = noisy_daily(1000)
    x, t = series[900]
    series[900] = (x + 25.0, t)  # within the range seen: the likelihood must find it
    scored = scores(SeriesScorer(), series)
    normal = scored[300:900] + scored[920:]
    assert scored[900] >= 0.5
    assert scored[900] > max(normal)
    assert max(normal) < 0.5


def test_a_household_income_that_falls_scores_high_in_a_yearly_season() -> None:
    # Monthly incomes with a harvest month, 8 years, then a fall in month 100.
    month = 365.2425 * 86400 / 12
    rng = random.Random(11)
    incomes = [(2400.0 if m % 12 == 9 else 1200.0) * rng.uniform(0.95, 1.05) for m in range(110)]
    incomes[100] = 300.0
    scorer = SeriesScorer(season_period=12 * month, season_bins=12, rest=6)
    scored = [scorer.update(x, (m + 0.5) * month) for m, x in enumerate(incomes)]
    assert len(scorer.numbers()) == HEADER + 24
    assert scored[100] == 1.0  # below anything seen
    assert max(scored[40:100]) < 0.5  # the harvest months are the season, not anomalies
