"""Life events injected into the world, each with the records a real one leaves.

Every injector (registered by name from the ``events_*`` modules) changes the
household's people and income streams (a death ends streams, a job loss ends
a wage, a move ends a member's records), adds the discrete records the
departments would send, and attaches to the household the :class:`Label`
that says what happened: the ground truth a replay is scored against.
Labels state life events and facts about them, never rule outcomes.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from typing import Any

from connectors.simulate.income import nominal_income
from connectors.simulate.model import Calendar, Employer, Household, Label, Person, Stream
from connectors.simulate.people import IdNumbers
from connectors.simulate.records import RecordBook
from connectors.simulate.settings import LIFE_EVENTS, SimulatorParams

EventFunction = Callable[["Injector", Household, int], bool]
EVENTS: dict[str, EventFunction] = {}


def register(name: str) -> Callable[[EventFunction], EventFunction]:
    """Register the injector of one life event (see LIFE_EVENTS for the names)."""

    def decorate(function: EventFunction) -> EventFunction:
        EVENTS[name] = function
        return function

    return decorate


class Injector:
    """Draws which households live through which event, and when, and applies it."""

    def __init__(
        self,
        rng: random.Random,
        params: SimulatorParams,
        calendar: Calendar,
        book: RecordBook,
        pools: dict[str, list[Employer]],
        ids: IdNumbers,
    ) -> None:
        self.rng = rng
        self.params = params
        self.calendar = calendar
        self.book = book
        self.pools = pools
        self.ids = ids
        self.winter = frozenset(params.noise.seasonal_months)
        self.window = range(
            params.events.warmup_months, calendar.months - params.events.tail_months
        )

    def run(self, households: list[Household]) -> list[Label]:
        labels: list[Label] = []
        if not self.window:
            return labels
        years = len(self.window) / 12
        missing = [name for name in LIFE_EVENTS if name not in EVENTS]
        assert not missing, f"no injector registered for {missing}"
        for event in LIFE_EVENTS:
            chance = 1 - math.exp(-getattr(self.params.events.rates, event) * years)
            for household in households:
                if household.labels or household.late or household.exited:
                    continue
                if self.rng.random() >= chance:
                    continue
                EVENTS[event](self, household, self.rng.choice(self.window))
        for household in households:
            labels.extend(household.labels)
        return labels

    # --- helpers -------------------------------------------------------------------

    def day(self, index: int) -> dt.date:
        return self.calendar.month(index) + dt.timedelta(days=self.rng.randint(0, 27))

    def income(self, h: Household, index: int) -> float:
        return nominal_income(h, index, self.calendar, self.winter)

    def regular(self, h: Household, index: int, people: list[Person] | None = None) -> float:
        """Income of a working month (seasonal wages counted) at ``index``."""
        return sum(
            s.nominal(index, self.winter, 6)
            for p in (h.members if people is None else people)
            for s in p.streams
        )

    def before(self, h: Household, index: int, person: Person | None = None) -> float:
        """Average monthly income over the six months before ``index``."""
        months = range(max(0, index - 6), index)
        if person is None:
            return sum(self.income(h, m) for m in months) / max(len(months), 1)
        total = 0.0
        for m in months:
            month = self.calendar.month(m).month
            total += sum(s.nominal(m, self.winter, month) for s in person.streams)
        return total / max(len(months), 1)

    def share(self, h: Household, person: Person, index: int) -> float:
        household = self.before(h, index)
        return self.before(h, index, person) / household if household else 0.0

    def label(
        self, event: str, h: Household, person: Person | None, day: dt.date, **details: Any
    ) -> Label:
        index = self.calendar.index(day)
        present = h.present(day)
        before = self.before(h, index)
        facts: dict[str, Any] = {
            "region": h.region,
            "scheme": h.scheme,
            "residence": h.residence,
            "line": h.line,
            "members": len(present),
            "household_income_before": round(before, 2),
            "per_capita_before": round(before / max(len(present), 1), 2),
        }
        if person is not None:
            facts.update(
                relation=person.relation,
                age=person.age(day),
                member_share=round(self.share(h, person, index), 3),
            )
        facts.update({k: (round(v, 2) if isinstance(v, float) else v) for k, v in details.items()})
        label = Label(event, h, person, day, facts)
        h.labels.append(label)
        return label

    def after(self, h: Household, index: int, when: dt.date) -> dict[str, float]:
        """Income of a working month after the event, and per capita."""
        people = h.present(when)
        income = self.regular(h, min(index, self.calendar.months - 1), people)
        return {
            "household_income_after": round(income, 2),
            "per_capita_after": round(income / max(len(people), 1), 2),
        }

    def earners(
        self, h: Household, index: int, local_only: bool = False
    ) -> list[tuple[Person, Stream]]:
        day = self.calendar.month(index)
        found = [
            (p, s)
            for p in h.present(day)
            for s in p.wage_streams()
            if s.active(index)
            and s.active(index - 1)
            and not (local_only and s.employer is not None and s.employer.exchange)
        ]
        return sorted(found, key=lambda ps: (-self.share(h, ps[0], index), ps[0].position))

    def in_season(self, stream: Stream, index: int, margin: int = 1) -> bool:
        """Whether months ``index - margin .. index + margin`` all pay a seasonal wage."""
        if not stream.seasonal:
            return True
        return all(
            self.calendar.month(index + k).month not in self.winter
            for k in range(-margin, margin + 1)
        )

    def end_streams(self, person: Person, index: int) -> None:
        for stream in person.streams:
            if stream.end is None or stream.end > index + 1:
                stream.end = max(stream.start, index + 1)

    def die(
        self,
        h: Household,
        p: Person,
        day: dt.date,
        label: Label,
        remove: bool,
        report_end: bool = True,
    ) -> None:
        """A death: records stop, the registration (or the exchange) reports it."""
        index = self.calendar.index(day)
        p.active_until = day
        self.end_streams(p, index)
        region = p.region
        working = [s for s in p.wage_streams() if s.employer is not None and s.active(index)]
        if working and working[0].employer is not None:
            employer = working[0].employer
            if employer.exchange and employer.office[:2] != p.region[:2]:
                region = employer.office  # died where they worked, in another province
            elif report_end and not employer.exchange and self.rng.random() < 0.6:
                ended = day + dt.timedelta(days=self.rng.randint(0, 10))
                self.book.employment(p, employer, ended, False, None, "死亡")
        label.details["reported_by"] = "exchange" if region != p.region else "public_security"
        label.details["death_region"] = region
        self.book.death(p, day, region, label)
        if remove:
            later = day + dt.timedelta(days=self.rng.randint(14, 60))
            self.book.member_removed(h, p, later, "死亡")
