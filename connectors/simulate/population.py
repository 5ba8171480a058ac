"""The county population: which households, where, under which scheme, enrolled when.

Draws the households across the monitored regions, schemes and residence,
gives them members and incomes, and adds the roster's movements that are not
life events: a few enrolments during the run and a few voluntary exits.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping
from typing import Any

from connectors.simulate.background import open_accounts
from connectors.simulate.income import assign_income
from connectors.simulate.model import Calendar, Employer, Household
from connectors.simulate.people import IdNumbers, make_household
from connectors.simulate.records import RecordBook
from connectors.simulate.settings import SimulatorSettings

EXIT_REASONS = ("本人申请退出", "家庭经济状况好转，申请退出")


def _choice(rng: random.Random, weights: Mapping[Any, float]) -> str:
    names = sorted(name for name, weight in weights.items() if weight > 0)
    return str(rng.choices(names, weights=[weights[n] for n in names])[0])


class Population:
    """Makes households one at a time, numbering their cases in order."""

    def __init__(
        self,
        rng: random.Random,
        settings: SimulatorSettings,
        calendar: Calendar,
        pools: dict[str, list[Employer]],
        ids: IdNumbers,
    ) -> None:
        self.rng = rng
        self.settings = settings
        self.params = settings.params
        self.calendar = calendar
        self.pools = pools
        self.ids = ids
        self.serial = 0

    def household(self, enrolled: dt.date, start: int) -> Household:
        population = self.params.population
        rng = self.rng
        region = _choice(rng, population.region_weights)
        scheme = _choice(rng, population.scheme_weights)
        residence = "urban" if rng.random() < population.urban_share else "rural"
        template = _choice(rng, population.templates[scheme])  # type: ignore[index]
        places = self.params.places[region]
        elsewhere = population.born_elsewhere_share
        other_province = elsewhere * population.born_other_province_share
        self.serial += 1
        household = make_household(
            rng,
            self.ids,
            case=f"HB{region}-{self.serial:06d}",
            region=region,
            scheme=scheme,
            residence=residence,
            line=self.settings.line(region, residence),
            template=template,
            enrolled=enrolled,
            birthplaces=[
                (other_province, places.cross_province),
                (elsewhere - other_province, places.same_city + places.cross_city),
            ],
            reference=self.calendar.month(start),
        )
        household.late = start > 0
        assign_income(rng, self.params, self.pools, household, self.calendar, start)
        open_accounts(rng, self.params, household, self.params.place_names)
        return household

    def initial(self, count: int) -> list[Household]:
        """Households enrolled before the first month of the run."""
        before = self.params.population.enrolled_days_before_start
        start = self.calendar.start
        return [
            self.household(start - dt.timedelta(days=self.rng.randint(1, before)), 0)
            for _ in range(count)
        ]

    def late(self, count: int) -> list[Household]:
        """Households enrolled during the run (a few, at the configured yearly rate)."""
        months = self.calendar.months
        expected = count * self.params.population.late_enrolments_per_year * (months - 1) / 12
        number = int(expected) + (self.rng.random() < expected - int(expected))
        found = []
        for index in sorted(self.rng.randint(1, months - 1) for _ in range(number) if months > 1):
            day = self.calendar.month(index) + dt.timedelta(days=self.rng.randint(0, 27))
            found.append(self.household(day, index))
        return found

    def exits(self, households: list[Household], book: RecordBook) -> int:
        """Voluntary exits of households that lived through no labelled event."""
        rate = self.params.population.exits_per_year
        months = self.calendar.months
        chance = 1 - math.exp(-rate * (months - 1) / 12)
        count = 0
        for household in households:
            if household.labels or household.late or household.exited or months < 2:
                continue
            if self.rng.random() >= chance:
                continue
            index = self.rng.randint(1, months - 1)
            day = self.calendar.month(index) + dt.timedelta(days=self.rng.randint(0, 27))
            household.exited, household.exit_reason = day, self.rng.choice(EXIT_REASONS)
            book.exited(household, day, household.exit_reason)
            count += 1
        return count
