"""Rules judged when a month is decided: income, the line, jobs, spending.

A decided month is compared with what the household's own history predicts:
its recent level, adjusted by what the same month did last year, so that a
winter without construction wages, seen the winter before, is not news.
Rules that rest on something absent (wages that stopped) run only on months
whose batches all arrived (``view.complete``), and a row the connectors could
not read is not absence (``record.unreadable``: the member's month counts at
least the month before, :func:`engine.household.member_income`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from detectors.base import Detector, Evidence, Finding, View, register
from engine import events as ev
from engine.household import (
    NEW,
    Change,
    counted_income,
    event_month,
    has_income,
    household_income,
    in_household,
    income_share,
    known,
    local_line,
    member_wages,
    members_on,
    per_capita,
    wage_row_unreadable,
)
from engine.state import HouseholdState, MemberState
from engine.timeline import first_day, month_name

Share = Annotated[float, msgspec.Meta(gt=0, le=1)]
Yuan = Annotated[float, msgspec.Meta(ge=0)]
Months = Annotated[int, msgspec.Meta(ge=1, le=6)]
HistoryMonths = Annotated[int, msgspec.Meta(ge=0, le=15)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _median(values: list[int]) -> float:
    """``float(statistics.median(values))`` (the same sort and the same sum, at a
    fraction of the cost on the few values of a household's months)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def _level(state: HouseholdState, before: int) -> float:
    """The household's income level before a month: the median of the three months before.

    A median, so that one month without a record (late, or missing) does not move it.
    """
    return _median([household_income(state, m) for m in range(before - 3, before)])


def seasonal_factor(state: HouseholdState, month: int, base: int) -> float | None:
    """How low the same month was last year, against the household's level then (None: unknown).

    Two views of last year's level, and the lower factor of the two: the level
    before ``base`` a year earlier (the same measure as this year's, of at
    least two of its three months when the history begins among them, so a
    season of any length compares like with like: a November and December
    without wages, after an autumn with them, are measured against that autumn
    both years), and the median of the known months up to three either side of
    last year's month (which one missing month does not move). Capped at 1:
    last year may explain a low month (a winter without wages), never make this
    year's expectation higher than the household's own level.

    Last year is no guide (None) when a member with income in the three months
    before ``base`` has died or left the household by the end of ``month``:
    their income is gone for good, not for the season (a seasonal earner who
    died at the start of the winter does not come back in spring).
    """
    last_year = month - 12
    if not known(state, last_year):
        return None
    end = first_day(month + 1) - 1
    if any(
        not (m.active(end) and m.alive_at(end))
        and any(counted_income(state, m, b) for b in range(base - 3, base))
        for m in state.members
        if has_income(m)
    ):
        return None
    then = household_income(state, last_year)
    if then == 0:
        return 0.0  # nothing came in that month last year: the season explains a gap
    around = [
        household_income(state, m)
        for m in range(last_year - 3, last_year + 4)
        if m != last_year and known(state, m)
    ]
    levels = [_median(around)] if around else []
    # (In the household's first year its history may begin among those three
    # months: two of them are enough. Without this view, a four-month season
    # leaves the other one, of the months around last year's, mostly its own.)
    before = [household_income(state, m) for m in range(base - 15, base - 12) if known(state, m)]
    if len(before) >= 2:
        levels.append(_median(before))
    factors = [then / level for level in levels if level > 0]
    return min(*factors, 1.0) if factors else None


def predicted_income(state: HouseholdState, month: int, base: int, ordinary: float = 0.0) -> float:
    """What the household's history predicts for ``month``, from the months before ``base``.

    A seasonal factor of ``1 - ordinary`` or more counts as 1: last year's month
    was within the household's ordinary month-to-month variation, not a season.
    """
    factor = seasonal_factor(state, month, base)
    if factor is None or factor >= 1 - ordinary:
        factor = 1.0
    return _level(state, base) * factor


@register("income_drop", direction="help")
class IncomeDrop(Detector):
    """Household income well below what its own history predicts, for consecutive months."""

    def __init__(
        self,
        drop: Share = 0.3,
        floor: Yuan = 500,
        confirm_months: Months = 2,
        history_months: HistoryMonths = 12,
    ) -> None:
        self.drop = drop
        self.floor = floor
        self.confirm_months = confirm_months
        self.history_months = history_months

    def _same_fall(self, state: HouseholdState, start: int, month: int) -> bool:
        """Is one member's income down (by ``drop`` of their own level before) in every
        month from ``start`` to ``month``?

        The months must hold the same fall: one member's month without a row in
        the first month and another's in the second (a row lost, a row whose
        month could not be read) are two single missing months, each noise, not
        a household whose income fell.
        """
        for member in filter(has_income, state.members):
            level = _median([counted_income(state, member, m) for m in range(start - 3, start)])
            if level > 0 and all(
                counted_income(state, member, m) <= (1 - self.drop) * level
                for m in range(start, month + 1)
            ):
                return True
        return False

    def on_month(self, view: View, month: int) -> list[Finding]:
        state = view.state
        start = month - self.confirm_months + 1
        # A household's first year teaches its rhythm (a winter without wages may
        # be its season): a drop is judged once the months a year before it are known.
        if not view.complete or not known(state, start - self.history_months):
            return []
        # A prediction is the level times a seasonal factor of at most 1, so a first
        # month above the drop's share of the level is above it of its prediction
        # too: the common case, judged without last year's months.
        level = _level(state, start)
        if level >= 0 and household_income(state, start) > (1 - self.drop) * level:
            return []
        # A month last year less than half the drop below its level was the
        # household's ordinary variation, not a season: it lowers no expectation.
        ordinary = self.drop / 2
        rows = []
        for m in range(start, month + 1):
            predicted = predicted_income(state, m, start, ordinary)
            actual = household_income(state, m)
            if predicted < self.floor or actual > (1 - self.drop) * predicted:
                return []
            rows.append((m, actual, predicted))
        if known(state, start - 1) and household_income(state, start - 1) <= (
            1 - self.drop
        ) * predicted_income(state, start - 1, start - 1, ordinary):
            return []  # the drop started earlier: it was judged then
        if not self._same_fall(state, start, month):
            return []
        actual, predicted = rows[-1][1], rows[-1][2]
        return [
            Finding(
                self.name,
                f"drop:{month_name(start)}",
                month,
                0,
                rule=(
                    f"household income at least {self.drop:.0%} below what its own history "
                    f"predicts, {self.confirm_months} months running"
                ),
                values={
                    "income": actual,
                    "predicted": round(predicted),
                    "fall": round(1 - actual / predicted, 3),
                    "since": month_name(start),
                },
                baseline={
                    "recent_3_months": round(
                        _mean([household_income(state, m) for m in range(start - 3, start)])
                    ),
                    "same_month_last_year": (
                        household_income(state, month - 12) if known(state, month - 12) else None
                    ),
                },
            )
        ]


@register("fell_under_line", direction="help")
class FellUnderLine(Detector):
    """A monitored low-income household whose income per person fell under the local line."""

    def __init__(self, confirm_months: Months = 2) -> None:
        self.confirm_months = confirm_months

    def on_month(self, view: View, month: int) -> list[Finding]:
        state = view.state
        line = local_line(state, view.region)
        if state.scheme != "low_income" or line is None or not view.complete:
            return []
        start = month - self.confirm_months + 1
        for m in range(start, month + 1):
            value = per_capita(state, m)
            if value is None or value >= line or not known(state, m):
                return []
        before = per_capita(state, start - 1)
        if before is not None and before < line:
            return []  # already under the line before: judged then
        last_year = per_capita(state, month - 12) if known(state, month - 12) else None
        if last_year is not None and last_year < line:
            return []  # the same months were under the line last year: the season, not news
        value = per_capita(state, month) or 0.0
        return [
            Finding(
                self.name,
                f"under:{month_name(start)}",
                month,
                0,
                rule=(
                    f"income per person under the local line of {line:g} yuan, "
                    f"{self.confirm_months} months running"
                ),
                values={"per_capita": round(value), "line": line, "since": month_name(start)},
                baseline={"per_capita_before": round(before) if before is not None else None},
            )
        ]


def _bridged_wages(state: HouseholdState, month: int, last: int) -> int:
    """Wages the household's month lacks only because a member's row of it is missing.

    A member with no wages in a month, paid the month after (decided by
    ``last``) and either paid the month before or with a row of this month
    that could not be read (a first wage, say), lost a row (a late file that
    never came, a row whose ID number could not be read), not a job for one
    month: the month counts the lower of the paid months beside it.
    """
    if month >= last:
        return 0  # the month after is not decided yet
    extra = 0
    for member in state.members:
        if not member.wages or not in_household(member, month):
            continue
        if member_wages(state, member, month) != 0 or not in_household(member, month + 1):
            continue
        after, before = (
            member_wages(state, member, month + 1),
            member_wages(state, member, month - 1),
        )
        if after > 0 and before > 0:
            extra += min(before, after)
        elif after > 0 and wage_row_unreadable(member, month):
            extra += after  # (nothing paid before it: the first wage's row was unreadable)
    return extra


@register("income_above_line", direction="review")
class IncomeAboveLine(Detector):
    """An assisted household whose income per person stayed above the local line.

    A month whose only shortfall is an absent wage row between two paid months
    does not break a run above the line, and a household already above the line
    crosses it anew only after ``months`` months running at or under it that
    were not its season (the same months under it last year, between months
    above it): a month or two of noise at the line, one lost row, or a winter
    without wages seen the winter before, is not a new review.
    """

    def __init__(self, months: Annotated[int, msgspec.Meta(ge=1, le=12)] = 3) -> None:
        self.months = months

    def _per_capita(
        self, state: HouseholdState, month: int, line: float, last: int
    ) -> float | None:
        """Income per person, with a lost wage row bridged when the month is not above."""
        value = per_capita(state, month)
        if value is None or value > line:
            return value
        extra = _bridged_wages(state, month, last)
        return value + extra / len(members_on(state, first_day(month + 1) - 1)) if extra else value

    def _above(self, state: HouseholdState, month: int, line: float, last: int) -> bool:
        value = self._per_capita(state, month, line, last)
        return value is not None and value > line

    def _season(self, state: HouseholdState, first: int, end: int, line: float, last: int) -> bool:
        """Had last year the same dip: under the line from ``first`` to ``end`` and above it
        the month after (and the month before, when the window still holds it)? A
        winter without wages, seen the winter before, is not a new crossing."""
        year = range(first - 12, end - 10)  # last year's dip, and the month after it
        if not all(known(state, m) for m in year):
            return False
        above = [self._above(state, m, line, last) for m in year]
        if any(above[:-1]) or not above[-1]:
            return False
        return not known(state, first - 13) or self._above(state, first - 13, line, last)

    def _new_crossing(self, state: HouseholdState, start: int, line: float, last: int) -> bool:
        """Did the household come from ``months`` months running at or under the line (or
        does its history begin under it), rather than from above it with a dip between
        that was short, or its season (the same dip last year)?"""
        above, m = 0, start - 1
        while known(state, m):
            if self._above(state, m, line, last):
                above += 1
                if above >= self.months:
                    return False  # above the line before the dip: reviewed then
                m -= 1
                continue
            end = m  # a dip under the line, back to the month above it
            while known(state, m) and not self._above(state, m, line, last):
                m -= 1
            if not known(state, m):
                return True
            if not self._season(state, m + 1, end, line, last):
                if end - m >= self.months:
                    return True
                above = 0  # a short dip: the months above must run again
        return True

    def on_month(self, view: View, month: int) -> list[Finding]:
        state = view.state
        line = local_line(state, view.region)
        if state.scheme == "low_income" or line is None:
            return []
        start = month - self.months + 1
        if not known(state, start):
            return []
        now = per_capita(state, month)
        if now is None or now <= line:
            return []  # (the decided month itself: no month after it to bridge a gap)
        values: list[float] = []
        for m in range(start, month + 1):
            value = self._per_capita(state, m, line, month)
            if value is None or value <= line:
                return []
            values.append(value)
        if known(state, start - 1) and self._above(state, start - 1, line, month):
            return []  # the run started earlier: it was alerted then
        if not self._new_crossing(state, start, line, month):
            return []
        return [
            Finding(
                self.name,
                f"above:{month_name(start)}",
                month,
                0,
                rule=(
                    f"income per person above the local line of {line:g} yuan "
                    f"for {self.months} closed months"
                ),
                values={
                    "per_capita": round(values[-1]),
                    "line": line,
                    "since": month_name(start),
                },
                baseline={"per_capita_each_month": ", ".join(str(round(v)) for v in values)},
            )
        ]


def _unexplained_gap(state: HouseholdState, member: MemberState, month: int) -> bool:
    """No wages this month, though the same month last year had some.

    A month without wages that last year also had none is the member's season
    (or a job not yet begun), not news.
    """
    if member_wages(state, member, month) != 0:
        return False
    last_year = month - 12
    return known(state, last_year) and member_wages(state, member, last_year) > 0


def _wages_stopped(state: HouseholdState, member: MemberState, month: int, months: int) -> bool:
    """Every one of the last ``months`` months is a gap last year does not explain."""
    return all(_unexplained_gap(state, member, m) for m in range(month - months + 1, month + 1))


@register("job_loss", direction="help")
class JobLoss(Detector):
    """A main earner lost their job: employment ended, or wages stopped for closed months."""

    def __init__(
        self,
        min_share: Share = 0.4,
        months: Months = 2,
        share_months: Annotated[int, msgspec.Meta(ge=1, le=12)] = 6,
        history_months: HistoryMonths = 12,
    ) -> None:
        self.min_share = min_share
        self.months = months
        self.share_months = share_months
        self.history_months = history_months

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]:
        if not isinstance(event, ev.EmploymentEnded) or change.outcome != NEW:
            return []
        member = view.state.member_at(change.position)
        if member is None or member.died is not None:
            return []  # a death ends employment too: earner_death tells that story
        month = event_month(event)
        share = income_share(view.state, member, list(range(month - self.share_months, month)))
        if share < self.min_share:
            return []
        return [
            Finding(
                self.name,
                f"ended:{member.position}:{event.employer}",
                month,
                member.position,
                rule=(
                    f"employment ended for a member earning at least {self.min_share:.0%} "
                    "of household income"
                ),
                values={
                    "income_share": round(share, 3),
                    "ended": event.event_time[:10],
                    "basis": "employment_ended",
                },
                records=(Evidence(event),),
                event_time=event.event_time,
            )
        ]

    def on_month(self, view: View, month: int) -> list[Finding]:
        state = view.state
        if not view.complete:
            return []
        start = month - self.months + 1
        window = list(range(start - self.share_months, start))
        findings: list[Finding] = []
        if not known(state, start - self.history_months):
            return findings  # the first year teaches the household's rhythm (seasons)
        for member in state.members:
            if member.died is not None or not member.wages or not known(state, window[0]):
                continue  # (no wages in the window: none stopped)
            stopped = _wages_stopped(state, member, month, self.months)
            if not stopped or member_wages(state, member, start - 1) == 0:
                continue
            share = income_share(state, member, window)
            if share < self.min_share:
                continue
            findings.append(
                Finding(
                    self.name,
                    f"stopped:{member.position}:{month_name(start)}",
                    month,
                    member.position,
                    rule=(
                        f"wages of a member earning at least {self.min_share:.0%} of household "
                        f"income stopped for {self.months} closed months"
                    ),
                    values={
                        "basis": "wages_stopped",
                        "income_share": round(share, 3),
                        "last_wage_month": month_name(start - 1),
                        "since": month_name(start),
                    },
                    baseline={
                        "average_wage_before": round(
                            _mean([member_wages(state, member, m) for m in window])
                        )
                    },
                )
            )
        return findings
