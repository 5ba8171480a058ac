"""The ordinary months: wages, pensions, benefits, small medical bills, bank balances.

Turns every income stream and account into monthly records, with the noise
of real data (month-to-month variation, a single missing month now and
then, seasonal winter gaps), and adds the background that must not alarm
anyone: outpatient claims, deposits under the limit, minor disabilities.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter

from connectors.simulate.model import Account, Calendar, Household, Person, Stream, month_end
from connectors.simulate.records import RecordBook, bank_name
from connectors.simulate.settings import SimulatorParams

_KINDS = {
    "wage": "income.wage",
    "pension": "income.pension",
    "unemployment": "income.unemployment_benefit",
}
_MINOR = ("physical", "visual", "hearing", "intellectual")


def open_accounts(
    rng: random.Random, params: SimulatorParams, household: Household, names: dict[str, str]
) -> None:
    """Bank accounts whose month-end balances the banks report: most far under the limit."""
    background = params.background
    if rng.random() >= background.deposit_account_share:
        return
    holders = [household.members[0]]
    spouse = next((p for p in household.members if p.relation == "spouse"), None)
    if spouse is not None and rng.random() < background.spouse_account_share:
        holders.append(spouse)
    cap = background.deposit_balance_cap * params.events.deposit_limit / len(holders)
    for p in holders:
        balance = min(rng.uniform(*background.deposit_balance), cap)
        bank = bank_name(names, household.region, rng.randrange(1000))
        p.accounts.append(Account(bank, round(balance, 2)))


def months_on_roster(household: Household, calendar: Calendar) -> range:
    """Month indices for which departments report on the household."""
    first = max(0, calendar.index(household.enrolled))
    last = calendar.months - 1
    if household.exited is not None:
        exit_index = calendar.index(household.exited)
        last = min(last, exit_index if household.exited.day > 1 else exit_index - 1)
    return range(first, last + 1)


class Background:
    """Materialises the monthly records of every household."""

    def __init__(
        self, rng: random.Random, params: SimulatorParams, calendar: Calendar, book: RecordBook
    ) -> None:
        self.rng = rng
        self.params = params
        self.calendar = calendar
        self.book = book
        self.winter = frozenset(params.noise.seasonal_months)
        self.counts: Counter[str] = Counter()

    def run(self, households: list[Household]) -> Counter[str]:
        for household in households:
            months = months_on_roster(household, self.calendar)
            holders = sum(1 for p in household.members if p.accounts)
            limit = self.params.events.deposit_limit
            cap = self.params.background.deposit_balance_cap * limit / max(holders, 1)
            for person in household.members:
                for stream in person.streams:
                    self.stream(person, stream, months)
                self.medical(person, months)
                for account in person.accounts:
                    self.deposits(person, account, months, cap)
                self.minor_disability(person, months)
        return self.counts

    def _alive(self, person: Person, index: int) -> bool:
        start = self.calendar.month(index)
        if person.joined is not None and month_end(start) < person.joined:
            return False
        return person.active_until is None or start <= person.active_until

    def _winter(self, index: int) -> bool:
        return self.calendar.month(index).month in self.winter

    def stream(self, person: Person, stream: Stream, months: range) -> None:
        noise = self.params.noise
        sigma = noise.wage_variation
        end = stream.end if stream.end is not None else self.calendar.months
        missed_last = False
        for index in range(max(months.start, stream.start), min(months.stop, end)):
            nominal = stream.nominal(index, self.winter, self.calendar.month(index).month)
            if nominal <= 0:
                continue
            if stream.kind == "wage":
                self.counts["wage_records_planned"] += 1
                if self._misses(stream, index, missed_last):
                    missed_last = True
                    self.counts["missing_wage_months"] += 1
                    continue
                factor = min(max(self.rng.gauss(1.0, sigma), 1 - 2 * sigma), 1 + 2 * sigma)
                amount = float(round(nominal * factor))
            else:
                amount = nominal
            missed_last = False
            row = self.book.income(
                person, _KINDS[stream.kind], index, amount, stream.employer, stream.pension_code
            )
            if index in stream.evidence:
                row.label, row.group = stream.evidence[index]

    def _misses(self, stream: Stream, index: int, missed_last: bool) -> bool:
        """A single month with no wage record (never two in a row, never next to winter)."""
        if not stream.can_miss or missed_last or index in stream.protected:
            return False
        if index in stream.evidence or (index + 1) in stream.evidence:
            return False
        if stream.seasonal and (self._winter(index - 1) or self._winter(index + 1)):
            return False
        if index + 1 >= self.calendar.months:
            return False
        return self.rng.random() < self.params.noise.missing_month_rate

    def medical(self, person: Person, months: range) -> None:
        background = self.params.background
        for index in months:
            if not self._alive(person, index):
                continue
            start = self.calendar.month(index)
            age = person.age(start)
            group = "child" if age < 18 else "elderly" if age >= 60 else "adult"
            rate = background.outpatient_per_month[group]
            claims = int(self.rng.random() < rate)
            claims += int(claims and self.rng.random() < background.second_claim_share)
            for _ in range(claims):
                day = start + dt.timedelta(days=self.rng.randint(0, 27))
                if person.active_until is not None and day > person.active_until:
                    continue
                if person.joined is not None and day < person.joined:
                    continue
                region = person.region
                away = [s.employer for s in person.wage_streams() if s.active(index) and s.employer]
                if away and away[0].exchange and self.rng.random() < 0.5:
                    region = away[0].office  # lives where they work
                total = round(self.rng.uniform(*background.outpatient_cost), 2)
                fund = round(total * self.rng.uniform(*background.fund_share), 2)
                chronic = group == "elderly" and self.rng.random() < background.chronic_share
                when = dt.datetime.combine(
                    day, dt.time(self.rng.randint(8, 17), self.rng.randint(0, 59))
                )
                self.book.settlement(person, when, region, total, fund, "14" if chronic else "11")
                self.counts["outpatient_claims"] += 1

    def deposits(self, person: Person, account: Account, months: range, cap: float) -> None:
        balance = account.balance
        jumped = False
        jumps = dict(account.jumps)
        for index in months:
            if index in jumps:
                if index in account.evidence:
                    account.evidence[index][0].details["balance_before"] = round(balance, 2)
                balance, jumped = jumps[index], True
            elif jumped:
                balance *= self.rng.uniform(0.985, 1.0)
            else:
                balance = balance * self.rng.uniform(0.96, 1.05) + self.rng.uniform(-200, 300)
                balance = min(max(balance, 0.0), cap)
            if not self._alive(person, index):
                continue
            row = self.book.deposit(person, account, index, balance, person.region)
            if index in account.evidence:
                row.label, row.group = account.evidence[index]

    def minor_disability(self, person: Person, months: range) -> None:
        """Level 3 or 4 certificates: real records that must not be taken for an onset."""
        rate = self.params.background.minor_disability_per_year
        if not months or self.rng.random() >= 1 - math.exp(-rate * len(months) / 12):
            return
        index = self.rng.choice(months)
        if not self._alive(person, index):
            return
        day = self.calendar.month(index) + dt.timedelta(days=self.rng.randint(0, 27))
        if person.active_until is not None and day > person.active_until:
            return
        if person.joined is not None and day < person.joined:
            return
        category = self.rng.choice(_MINOR)
        self.book.certified(person, day, category, self.rng.choice((3, 4)), person.region, None)
        self.counts["minor_disability_certificates"] += 1
