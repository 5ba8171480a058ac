"""Unusual trajectories: River models of each household and of its region.

Per household, a River ``drift.PageHinkley`` watches the income series for a
change and River ``stats.EWMean``/``stats.EWVar`` keep its adaptive baseline;
their few numbers live in the household's state (not pickles: a pickle is
hundreds of bytes). Per region, a River ``anomaly.HalfSpaceTrees`` scores each
household's month (features scaled to [0, 1]) behind an
``anomaly.QuantileFilter``, whose adaptive threshold keeps the share of
households flagged near ``1 - quantile``.

Attribution (docs/detectors.md): for a flagged household, each feature in turn
is replaced by the region's running median of that feature (River
``stats.Quantile``) and the household is scored again; the fall in the score
is that feature's contribution. Contributions are computed from the model
itself and shared out in proportion. The direction follows the feature that
contributed most: income below its usual level or spending above it is
``help``; income above it is ``review``.

Models learn once per household and decided month, in the engine's fixed
order, and only on months decided for the first time (a re-decision scores
again without learning), so a replay learns exactly as the live run did.
"""

from __future__ import annotations

import pickle
from typing import Annotated, Any

import msgspec
from river import anomaly, drift, stats

from detectors.base import Detector, Finding, View, register
from detectors.hst import ForestSnapshot, learn
from detectors.series import SeriesScorer
from engine.household import amount_at, household_income, known, local_line, per_capita
from engine.state import HouseholdState
from engine.timeline import month_name

FEATURES = (
    "income_vs_recent",  # this month against the three before
    "income_vs_last_year",  # against the same month last year
    "income_z",  # against the household's adaptive baseline (EW mean and variance)
    "income_change",  # the household's Page-Hinkley test saw its income level change
    "per_capita_vs_line",  # income per person against the local line
    "medical_vs_income",  # out-of-pocket medical spending against income
    "income_surprise",  # the household's SeriesScorer: how unlikely this income is for it
)
HELP_WHEN_LOW = {"income_vs_recent", "income_vs_last_year", "income_z", "per_capita_vs_line"}
# The household's SeriesScorer (detectors/series.py; the model of the NAB benchmark)
# for a monthly income: t is the month index, the season a year of 12 months, a
# memory of about ten months, judged after six, quiet for six after an alarm. A new
# highest or lowest income is ordinary for a household (a raise, a lost job), so
# only one far outside its range (half of it again) scores 1.
SERIES = {
    "level_fading": 0.1,
    "season_period": 12.0,
    "season_bins": 12,
    "season_fading": 0.3,
    "smoothing": 0.5,
    "likelihood_fading": 0.05,
    "warmup": 6,
    "rest": 6,
    "range_tolerance": 0.5,
    "cap": 10.0,
}
Quantile = Annotated[float, msgspec.Meta(gt=0.5, lt=1)]


def _page_hinkley() -> drift.PageHinkley:
    return drift.PageHinkley(min_instances=6, threshold=2.0, delta=0.05, mode="both")


def rounded(numbers: list[float], stored: list[float], digits: int) -> list[float]:
    """``[round(v, digits) for v in numbers]``, where ``stored`` is that of the numbers
    before they moved: a number equal to its stored one is that already (``round``
    gives a number it rounds to itself), so only the numbers that moved are rounded
    (a month moves 20 of a SeriesScorer's 43; ``round`` with digits costs 0.3 us)."""
    if len(stored) != len(numbers):
        return [round(v, digits) for v in numbers]
    return [v if v == old else round(v, digits) for v, old in zip(numbers, stored, strict=True)]


def _ratio(value: float, base: float, cap: float = 2.0) -> float:
    return min(value / base, cap) / cap if base > 0 else 0.5


class HouseholdBaseline:
    """The per-household River models, rebuilt from and saved to a few numbers."""

    def __init__(self, fading_factor: float, numbers: list[float] | None) -> None:
        self.mean = stats.EWMean(fading_factor)
        self.var = stats.EWVar(fading_factor)
        self.change = _page_hinkley()
        self.seen = 0
        if numbers:
            self._restore(numbers)

    def _restore(self, numbers: list[float]) -> None:
        mean, variance, seen, ph_n, ph_mean, s_inc, s_dec, min_inc, max_dec = numbers
        self.seen = int(seen)  # stored as a float among floats
        self.mean.update(mean)  # an EWMean's first update sets its mean exactly
        # An EWVar is two numbers (mean, variance); two updates reach any pair.
        a = self.var.fading_factor
        if variance > 0 and 0 < a < 1:
            step = (variance / ((1 - a) * a)) ** 0.5
            first = mean - a * step
            self.var.update(first)
            self.var.update(first + step)
        else:
            self.var.update(mean)
        ph = self.change
        ph._x_mean.n, ph._x_mean._mean = int(ph_n), ph_mean
        ph._sum_increase, ph._sum_decrease = s_inc, s_dec
        ph._min_increase, ph._max_decrease = min_inc, max_dec  # type: ignore[assignment]

    def numbers(self) -> list[float]:
        ph = self.change
        return [
            round(self.mean.get(), 4),
            round(self.var.get(), 4),
            float(self.seen),
            float(ph._x_mean.n),
            round(ph._x_mean.get(), 4),
            round(ph._sum_increase, 4),
            round(ph._sum_decrease, 4),
            round(ph._min_increase, 4),
            round(ph._max_decrease, 4),
        ]

    def probe(self) -> drift.PageHinkley:
        """A copy of the change test to look ahead with, the baseline left as it was
        (benchmarks/nab_run.py; a deep copy costs 30 times more)."""
        ph, src = _page_hinkley(), self.change
        ph._x_mean.n, ph._x_mean._mean = src._x_mean.n, src._x_mean._mean
        ph._sum_increase, ph._sum_decrease = src._sum_increase, src._sum_decrease
        ph._min_increase, ph._max_decrease = src._min_increase, src._max_decrease
        ph._drift_detected = src._drift_detected
        return ph

    def z(self, value: float) -> float:
        if self.seen < 3:
            return 0.0
        sd: float = max(self.var.get(), 1.0) ** 0.5
        return max(-4.0, min(4.0, (value - float(self.mean.get())) / sd))

    def learn(self, value: float) -> bool:
        """Learn a decided month's income; True if its level changed."""
        self.mean.update(value)
        self.var.update(value)
        self.seen += 1
        scaled = value / max(self.mean.get(), 100.0)
        self.change.update(scaled)
        return bool(self.change.drift_detected)


class RegionModel:
    """The region's River models: the scorer, its adaptive threshold, feature medians."""

    def __init__(
        self, n_trees: int, height: int, window_size: int, quantile: float, seed: int
    ) -> None:
        self.forest = anomaly.HalfSpaceTrees(
            n_trees=n_trees,
            height=height,
            window_size=window_size,
            limits={f: (0.0, 1.0) for f in FEATURES},
            seed=seed,
        )
        self.filter = anomaly.QuantileFilter(self.forest, q=quantile, protect_anomaly_detector=True)
        self.medians = {f: stats.Quantile(0.5) for f in FEATURES}
        self.seen = 0

    # The forest scores and learns through a snapshot of its masses (detectors/hst.py),
    # taken again when its window turns, and not part of the checkpoint: learn through
    # learn_one only, never through the filter or the forest (the snapshot would go stale).
    # The snapshot counts what it learned on the forest's nodes before the forest is
    # pickled, so the checkpoint is the forest River's own learning would have left.

    def __getstate__(self) -> dict[str, Any]:
        snapshot: ForestSnapshot | None = self.__dict__.get("_snapshot")
        if snapshot is not None:
            snapshot.settle()
        return {k: v for k, v in self.__dict__.items() if k != "_snapshot"}

    def _scorer(self) -> ForestSnapshot:
        snapshot: ForestSnapshot | None = self.__dict__.get("_snapshot")
        if snapshot is None:
            snapshot = self._snapshot = ForestSnapshot(self.forest, FEATURES)
        return snapshot

    def score_one(self, x: dict[str, float]) -> float:
        """The forest's score of ``x`` (``forest.score_one``)."""
        return self._scorer().score_one(x)

    def learn_one(self, x: dict[str, float]) -> None:
        """``filter.learn_one(x)``: the threshold learns the score, the forest ``x``
        unless flagged."""
        if learn(self.filter, self._scorer(), x):
            del self._snapshot


@register("unusual_trajectory", direction="help")
class UnusualTrajectory(Detector):
    """A household whose month looks unusual for itself and for its region's households."""

    # A month decided again is scored by models that learned since, so its alert
    # comes and goes with them, not with the records: freeing the cooldown then
    # tripled the alerts caseworkers saw raised and withdrawn (benchmarks/quality.md).
    withdrawal_frees_cooldown = False

    def __init__(
        self,
        quantile: Quantile = 0.995,
        n_trees: Annotated[int, msgspec.Meta(ge=1, le=100)] = 15,
        height: Annotated[int, msgspec.Meta(ge=2, le=15)] = 8,
        window_size: Annotated[int, msgspec.Meta(ge=10, le=100000)] = 500,
        warmup: Annotated[int, msgspec.Meta(ge=0)] = 1000,
        fading_factor: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.3,
        top_features: Annotated[int, msgspec.Meta(ge=1, le=6)] = 3,
        seed: int = 42,
    ) -> None:
        self.quantile = quantile
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.warmup = warmup
        self.fading_factor = fading_factor
        self.top_features = top_features
        self.seed = seed
        self.series_key = f"{self.name}.series"  # the household's SeriesScorer numbers
        self._regions: dict[str, RegionModel] = {}

    # --- shared state (the engine checkpoints it per region) ---------------------------

    shared = True

    def checkpoint(self, region: str) -> bytes | None:
        model = self._regions.get(region)
        return pickle.dumps(model) if model is not None else None

    def restore(self, region: str, blob: bytes | None) -> None:
        self._regions[region] = pickle.loads(blob) if blob else self._new_region()

    def _new_region(self) -> RegionModel:
        return RegionModel(self.n_trees, self.height, self.window_size, self.quantile, self.seed)

    def _region(self, region: str) -> RegionModel:
        if region not in self._regions:
            self._regions[region] = self._new_region()
        return self._regions[region]

    # --- the month ------------------------------------------------------------------------

    def features(
        self,
        state: HouseholdState,
        view: View,
        month: int,
        baseline: HouseholdBaseline,
        changed: bool,
        surprise: float,
    ) -> dict[str, float]:
        """The month's features; ``surprise`` is the SeriesScorer's score of its income."""
        income = float(household_income(state, month))
        recent = (
            household_income(state, month - 3)
            + household_income(state, month - 2)
            + household_income(state, month - 1)
        ) / 3
        last_year = household_income(state, month - 12) if known(state, month - 12) else 0
        line = local_line(state, view.region) or 1.0
        capita = per_capita(state, month) or 0.0
        medical = amount_at(state.medical, state, month)
        return {
            "income_vs_recent": _ratio(income, recent),
            "income_vs_last_year": _ratio(income, last_year),
            "income_z": (baseline.z(income) + 4) / 8,
            "income_change": 1.0 if changed else 0.0,
            "per_capita_vs_line": min(capita / line, 3.0) / 3.0,
            "medical_vs_income": min(medical / max(recent, line), 2.0) / 2.0,
            "income_surprise": surprise,
        }

    def on_month(self, view: View, month: int) -> list[Finding]:
        state = view.state
        if not known(state, month - 3):
            return []
        model = self._region(state.region)
        final = view.final_month
        learns = month > state.decided and known(state, final - 3)
        if not learns and model.seen < self.warmup:
            return []  # nothing to learn, and no score before the warm-up (below)
        baseline = HouseholdBaseline(self.fading_factor, state.models.get(self.name))
        series = SeriesScorer(**SERIES)  # type: ignore[arg-type]
        stored = state.models.get(self.series_key, [])
        series.restore(stored)
        if learns:
            # Learn from the month no record can change any more, never from the
            # month being decided: what is learned is then the same whatever
            # order the departments' records arrived in. Score before learning.
            final_income = float(household_income(state, final))
            surprise = series.update(final_income, float(final))  # scored, then learned
            x_final = self.features(state, view, final, baseline, False, surprise)
            x_final["income_change"] = 1.0 if baseline.learn(final_income) else 0.0
            model.learn_one(x_final)
            for name, value in x_final.items():
                model.medians[name].update(value)
            model.seen += 1
            state.models[self.name] = baseline.numbers()
            state.models[self.series_key] = rounded(series.numbers(), stored, 6)
        if model.seen < self.warmup:
            return []  # no flag before the warm-up, so no features or score (they learn nothing)
        # The months since, not yet final, are looked at but not learned: the change
        # test looks ahead from where it stands, itself rather than a copy, since
        # this baseline is not stored again (its numbers, if learned, are above).
        ahead, scale = baseline.change, max(float(baseline.mean.get()), 100.0)
        changed = False
        for m in range(final + 1, month + 1):
            ahead.update(household_income(state, m) / scale)
            changed = changed or bool(ahead.drift_detected)
        income = float(household_income(state, month))
        x = self.features(
            state, view, month, baseline, changed, series.score_one(income, float(month))
        )
        score = model.score_one(x)
        if not model.filter.classify(score):
            return []
        contributions = self._attribution(model, x, score)
        top = sorted(contributions.items(), key=lambda kv: (-kv[1], kv[0]))[: self.top_features]
        lead = top[0][0]
        medians = {f: model.medians[f].get() or 0.0 for f in FEATURES}
        below = x[lead] < medians[lead]
        if lead == "income_surprise":  # unlikely either way: which way did income go?
            below = x["income_z"] < 0.5
            harder = below
        else:
            harder = (lead in HELP_WHEN_LOW and below) or (
                lead == "medical_vs_income" and not below
            )
        direction = "help" if harder or lead == "income_change" else "review"
        return [
            Finding(
                self.name,
                f"model:{month_name(month)}",
                month,
                0,
                rule=(
                    f"Half-Space Trees score among the top {1 - self.quantile:.1%} of the "
                    "region's households this month"
                ),
                values={
                    "score": round(score, 4),
                    "threshold_quantile": self.quantile,
                    "lead_feature": lead,
                },
                baseline={f: round(medians[f], 3) for f, _ in top},
                features={f: round(c, 3) for f, c in top},
                direction=direction,
            )
        ]

    def _attribution(
        self, model: RegionModel, x: dict[str, float], score: float
    ) -> dict[str, float]:
        """Each feature's share of the score: its fall when the feature takes the median."""
        falls = {}
        for name in FEATURES:
            typical = dict(x)
            typical[name] = model.medians[name].get() or 0.0
            falls[name] = max(score - model.score_one(typical), 0.0)
        total = sum(falls.values())
        if total <= 0:
            return {name: 1.0 / len(FEATURES) for name in FEATURES}
        return {name: fall / total for name, fall in falls.items()}
