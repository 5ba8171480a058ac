"""An online anomaly score for one numeric series, kept in a few dozen floats.

:class:`SeriesScorer` watches one series (a household's monthly income; on
the NAB benchmark, a server metric) and scores each value before learning it:

1. Surprise: how far the value is from what the series does, in standard
   deviations, whichever is largest of three views, each an exponentially
   weighted mean and variance: of the values (their level), of the changes
   from the previous value, and of the residuals against the usual value at
   this point of the season (``season_bins`` bins of ``season_period``
   seconds: hours of a day, months of a year).
2. Likelihood: the smoothed surprise against the distribution of the series'
   own past smoothed surprises (Numenta's anomaly likelihood, with a running
   mean and variance instead of a window), so that one threshold fits calm
   and noisy series alike; of two alarming likelihoods in a row the second is
   demoted. The score is the likelihood on a log scale: 0.5 is one chance in
   100,000, 1 one in 10 billion.
3. Rest: for ``rest`` values after an alarm (a score of 0.5 or more), scores
   are halved: one change makes one alarm, not a run of them.
4. Range: a value beyond anything seen so far, by more than
   ``range_tolerance`` of that range, scores 1 whatever the rest.

Everything is deterministic and costs a few microseconds per value. The state
is :meth:`SeriesScorer.numbers`, ``19 + 2 * season_bins`` floats, and
:meth:`SeriesScorer.restore` continues from it exactly.

>>> scorer = SeriesScorer(season_bins=0)
>>> scores = [scorer.update(10.0 + i % 3, t=3600.0 * i) for i in range(100)]
>>> max(scores[50:]) < 0.5
True
>>> scorer.score_one(30.0, t=3600.0 * 100)
1.0
>>> len(scorer.numbers())
19
"""

from __future__ import annotations

import math
from typing import NamedTuple

ALARM = 0.5  # the score of a likelihood of 1 - 1e-5
RED = 0.99999  # two likelihoods this high in a row: the second is demoted to YELLOW
YELLOW = 0.999
LOG_TINY = math.log(1e-10)  # a likelihood of 1 - 1e-10 scores 1
MIN_SPREAD = 1e-6  # least variance of the smoothed surprise (a flat series has none)
RELATIVE_FLOOR = 1e-3  # least standard deviation of a view, as a share of the level
HEADER = 19  # floats before the season bins in numbers()
PARAMETERS = (
    "level_fading",
    "season_period",
    "season_bins",
    "season_fading",
    "smoothing",
    "likelihood_fading",
    "warmup",
    "rest",
    "range_tolerance",
    "cap",
)


class Assessment(NamedTuple):
    """A value's score and the evidence for it."""

    score: float
    surprise: float  # the largest z-score of the three views, capped at ``cap``
    likelihood: float  # of the smoothed surprise under the series' own history
    beyond_range: bool  # outside everything seen so far, by more than the tolerance
    smoothed: float  # the smoothed surprise, in [0, 1]
    alarm: bool  # the likelihood alone reached the alarm, outside a rest


def _upper_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _z(x: float, stats: list[float], floor: float) -> float:
    """|x - mean| in standard deviations of ``stats`` (mean, variance, count); 0 while new."""
    mean, variance, count = stats
    if count < 2:
        return 0.0
    return abs(x - mean) / math.sqrt(max(variance, floor))


def _learn(stats: list[float], x: float, fading: float) -> None:
    """One step of an exponentially weighted mean and variance (a plain average at first)."""
    mean, variance, count = stats
    count += 1.0
    a = max(fading, 1.0 / count)
    d = x - mean
    stats[0] = mean + a * d
    stats[1] = (1.0 - a) * (variance + a * d * d)
    stats[2] = count


class SeriesScorer:
    """Scores each value of one series in [0, 1], higher meaning more anomalous.

    ``score_one(x, t)`` then ``learn_one(x, t)``, or ``update(x, t)`` for both;
    ``t`` is the value's time in seconds (only its place in the season is used).

    Parameters (the constructor is the config):

    - ``level_fading``: weight of a new value in the mean and variance of the
      level and of the changes (0.002: a memory of about 500 values).
    - ``season_period``, ``season_bins``: the season in seconds of ``t`` and
      how many bins it is cut into (0 bins: no season view).
    - ``season_fading``: weight of a new value in its season bin's mean.
    - ``smoothing``: weight of a new surprise in the smoothed surprise.
    - ``likelihood_fading``: weight of a new smoothed surprise in the
      distribution they are judged against.
    - ``warmup``: values learned before the likelihood speaks (the score is
      0.5 before, unless the range check fires).
    - ``rest``: values after an alarm whose scores are halved.
    - ``range_tolerance``: share of the range seen by which a value must
      exceed it to score 1 (0: no range check).
    - ``cap``: surprises are capped at this many standard deviations.
    """

    def __init__(
        self,
        level_fading: float = 0.002,
        season_period: float = 86400.0,
        season_bins: int = 24,
        season_fading: float = 0.05,
        smoothing: float = 0.1,
        likelihood_fading: float = 0.001,
        warmup: int = 20,
        rest: int = 200,
        range_tolerance: float = 0.02,
        cap: float = 10.0,
    ) -> None:
        self.level_fading = level_fading
        self.season_period = season_period
        self.season_bins = season_bins
        self.season_fading = season_fading
        self.smoothing = smoothing
        self.likelihood_fading = likelihood_fading
        self.warmup = warmup
        self.rest = rest
        self.range_tolerance = range_tolerance
        self.cap = cap
        self.restore([])

    def params(self) -> dict[str, float | int]:
        """The constructor's arguments: enough to build the same scorer again."""
        return {name: getattr(self, name) for name in PARAMETERS}

    def __repr__(self) -> str:
        return f"SeriesScorer({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"

    # --- state --------------------------------------------------------------------------

    def restore(self, numbers: list[float]) -> None:
        """Continue from what :meth:`numbers` returned (an empty list: start afresh)."""
        size = HEADER + 2 * self.season_bins
        if numbers and len(numbers) != size:
            raise ValueError(
                f"SeriesScorer with {self.season_bins} season bins keeps {size} numbers, "
                f"got {len(numbers)}"
            )
        n = [float(v) for v in numbers] if numbers else [0.0] * size
        self.seen, self.previous, self.low, self.high = n[0:4]
        self.level = n[4:7]  # mean, variance, count of the values
        self.change = n[7:10]  # ... of the changes from the previous value
        self.residual = n[10:13]  # ... of the values less their season bin's mean
        self.history = n[13:16]  # ... of the smoothed surprises
        self.smoothed, self.last_likelihood, self.since_alarm = n[16:19]
        if not numbers:
            self.since_alarm = float(self.rest)
        self.season = n[HEADER:]  # per bin: mean, count

    def numbers(self) -> list[float]:
        """The whole state: ``19 + 2 * season_bins`` floats."""
        return [
            self.seen,
            self.previous,
            self.low,
            self.high,
            *self.level,
            *self.change,
            *self.residual,
            *self.history,
            self.smoothed,
            self.last_likelihood,
            self.since_alarm,
            *self.season,
        ]

    # --- scoring --------------------------------------------------------------------------

    def _bin(self, t: float) -> int:
        phase = (t % self.season_period) / self.season_period
        return min(int(phase * self.season_bins), self.season_bins - 1)

    def assess(self, x: float, t: float) -> Assessment:
        """The value's score and its evidence, learning nothing."""
        floor = (max(abs(self.level[0]), 1e-6) * RELATIVE_FLOOR) ** 2
        surprise = _z(x, self.level, floor)
        if self.seen >= 1:
            surprise = max(surprise, _z(x - self.previous, self.change, floor))
        if self.season_bins:
            b = 2 * self._bin(t)
            if self.season[b + 1] > 2:
                surprise = max(surprise, _z(x - self.season[b], self.residual, floor))
        surprise = min(surprise, self.cap)
        raw = surprise / self.cap
        smoothed = raw if self.seen == 0 else self.smoothed + self.smoothing * (raw - self.smoothed)
        mean, variance, count = self.history
        if count > self.warmup:
            z = (smoothed - mean) / math.sqrt(max(variance, MIN_SPREAD))
            likelihood = 1.0 - _upper_tail(z)
        else:
            likelihood = 0.5
        reported = YELLOW if likelihood >= RED and self.last_likelihood >= RED else likelihood
        score = math.log(1.0 + 1e-10 - reported) / LOG_TINY
        resting = self.since_alarm < self.rest
        if resting:
            score *= 0.5
        alarm = not resting and score >= ALARM
        beyond = False
        if self.range_tolerance > 0 and self.seen >= 1:
            margin = self.range_tolerance * (self.high - self.low)
            beyond = x > self.high + margin or x < self.low - margin
            if beyond:
                score = 1.0
        return Assessment(min(max(score, 0.0), 1.0), surprise, likelihood, beyond, smoothed, alarm)

    def score_one(self, x: float, t: float) -> float:
        """The value's score in [0, 1] (0 for a value that is not a finite number)."""
        return self.assess(x, t).score if math.isfinite(x) else 0.0

    def learn_one(self, x: float, t: float) -> None:
        """Learn the value (after scoring it); a value that is not finite is skipped."""
        if math.isfinite(x):
            self._learn(x, t, self.assess(x, t))

    def update(self, x: float, t: float) -> float:
        """Score the value, then learn it; returns the score (before learning)."""
        if not math.isfinite(x):
            return 0.0
        assessment = self.assess(x, t)
        self._learn(x, t, assessment)
        return assessment.score

    def _learn(self, x: float, t: float, assessment: Assessment) -> None:
        if assessment.alarm:
            self.since_alarm = 1.0
        elif self.since_alarm < self.rest:
            self.since_alarm += 1.0
        _learn(self.history, assessment.smoothed, self.likelihood_fading)
        self.smoothed = assessment.smoothed
        self.last_likelihood = assessment.likelihood
        if self.season_bins:
            b = 2 * self._bin(t)
            mean, count = self.season[b], self.season[b + 1]
            if count > 2:
                _learn(self.residual, x - mean, self.level_fading)
            count += 1.0
            self.season[b] = mean + max(self.season_fading, 1.0 / count) * (x - mean)
            self.season[b + 1] = count
        if self.seen >= 1:
            _learn(self.change, x - self.previous, self.level_fading)
        _learn(self.level, x, self.level_fading)
        self.previous = x
        self.low = x if self.seen == 0 else min(self.low, x)
        self.high = x if self.seen == 0 else max(self.high, x)
        self.seen += 1.0
