"""A batch baseline for the River model: scikit-learn's IsolationForest, refitted monthly.

During a replay, :class:`RecordingTrajectory` (the shipped ``unusual_trajectory``
detector, unchanged) keeps the feature vector its Half-Space Trees scored for
each household and month (``detectors.models.FEATURES``, from the engine's
household state only: no label is read), with the engine's clock at that first
decision. After the replay, :func:`isolation_flags` fits an IsolationForest per
region and month on every vector of the months before it, scores the month's
households and flags as many of them as ``unusual_trajectory`` flagged in that
region and month (the same caseworker load), skipping households within the
detector's cooldown. :func:`random_flags` flags the same number at random: what
any model must beat. Both come back as alert-like flags that
``connectors.evaluate`` scores exactly as ``unusual_trajectory``'s alerts.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from detectors.models import FEATURES, UnusualTrajectory
from engine.alert import Alert
from engine.timeline import month_index, month_name

MODEL = "unusual_trajectory"
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Row:
    """One household-month as the River model saw it when the month was first decided."""

    household: str
    region: str
    month: int  # month index
    features: tuple[float, ...]
    decided_at: str  # the engine's clock (arrival time) at that decision


class RecordingTrajectory(UnusualTrajectory):
    """``unusual_trajectory`` as configured, keeping the vectors it scores.

    The detector computes features for the month being decided (scored) and for
    the final month (learned); only the first are kept, once per household and
    month (a re-decision after a late record scores again: the batch baseline
    sees the month as it was when first closed).
    """

    rows: dict[tuple[str, int], Row]
    clock: Callable[[], str]
    _deciding: int

    def start_recording(self, clock: Callable[[], str]) -> None:
        self.rows, self.clock, self._deciding = {}, clock, -1

    def on_month(self, view: Any, month: int) -> list[Any]:
        self._deciding = month
        return super().on_month(view, month)

    def features(self, state: Any, view: Any, month: int, *args: Any) -> dict[str, float]:
        x = super().features(state, view, month, *args)
        key = (state.household, month)
        if month == self._deciding and key not in self.rows:
            vector = tuple(float(x[name]) for name in FEATURES)
            self.rows[key] = Row(state.household, state.region, month, vector, self.clock())
        return x


def recording(model: UnusualTrajectory) -> RecordingTrajectory:
    """The same detector, with the same parameters, that records what it scores."""
    return RecordingTrajectory(**model._get_params())


@dataclass(frozen=True)
class FlagStory:
    month: str


@dataclass(frozen=True)
class Flag:
    """A baseline's flag, shaped like the alert fields ``connectors.evaluate`` reads."""

    alert_id: str
    household: str
    region: str
    story: FlagStory
    processed_at: str
    detector: str = MODEL  # judged exactly as the River model's alerts
    status: str = "raised"


@dataclass
class Budget:
    """How many households ``unusual_trajectory`` flagged, per region and month."""

    per_region_month: Counter[tuple[str, int]] = field(default_factory=Counter)

    @classmethod
    def of(cls, standing: Iterable[Alert]) -> Budget:
        counts: Counter[tuple[str, int]] = Counter(
            (a.region, month_index(a.story.month)) for a in standing if a.detector == MODEL
        )
        return cls(counts)


def _by_region_month(rows: Iterable[Row]) -> dict[str, dict[int, list[Row]]]:
    grouped: dict[str, dict[int, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row.region][row.month].append(row)
    for months in grouped.values():
        for month_rows in months.values():
            month_rows.sort(key=lambda r: r.household)
    return grouped


def _flag(row: Row, name: str) -> Flag:
    return Flag(
        f"{name}:{row.household}:{row.month}",
        row.household,
        row.region,
        FlagStory(month_name(row.month)),
        row.decided_at,
    )


def _pick(
    rows: dict[tuple[str, int], Row],
    budget: Budget,
    cooldown_days: int,
    rank: Callable[[str, int, list[Row], list[Row]], list[Row]],
    name: str,
) -> list[Flag]:
    """Walk each region's months in order; ``rank`` orders the eligible rows, most
    unusual first, given the rows of the months before; the budget's top are flagged."""
    cooldown = -(-cooldown_days // DAYS_PER_MONTH)  # in whole months, rounded up
    flags: list[Flag] = []
    for region, months in sorted(_by_region_month(rows.values()).items()):
        seen: list[Row] = []
        last: dict[str, int] = {}
        for month in sorted(months):
            wanted = budget.per_region_month.get((region, month), 0)
            current = months[month]
            if wanted:
                eligible = [
                    r
                    for r in current
                    if r.household not in last or month - last[r.household] >= cooldown
                ]
                for row in rank(region, month, eligible, seen)[:wanted]:
                    flags.append(_flag(row, name))
                    last[row.household] = month
            seen.extend(current)
    return flags


def isolation_flags(
    rows: dict[tuple[str, int], Row],
    budget: Budget,
    cooldown_days: int,
    seed: int = 42,
    n_estimators: int = 100,
) -> list[Flag]:
    """IsolationForest refitted for each region and month on the months before it."""

    def rank(region: str, month: int, eligible: list[Row], seen: list[Row]) -> list[Row]:
        if not eligible or not seen:
            return []
        forest = IsolationForest(n_estimators=n_estimators, random_state=seed)
        forest.fit(np.array([r.features for r in seen]))
        scores = forest.score_samples(np.array([r.features for r in eligible]))  # low: unusual
        order = sorted(range(len(eligible)), key=lambda i: (scores[i], eligible[i].household))
        return [eligible[i] for i in order]

    return _pick(rows, budget, cooldown_days, rank, "isolation_forest")


def random_flags(
    rows: dict[tuple[str, int], Row], budget: Budget, cooldown_days: int, seed: int = 42
) -> list[Flag]:
    """The same number of households, drawn at random from those the model could score."""

    def rank(region: str, month: int, eligible: list[Row], seen: list[Row]) -> list[Row]:
        drawn = list(eligible)
        random.Random(f"{seed}:{region}:{month}").shuffle(drawn)
        return drawn

    return _pick(rows, budget, cooldown_days, rank, "random")
