"""The simulated world in plain objects: people, households, income streams, labels.

Nothing here draws random numbers or knows a department's layout; the
population, income and life-event modules fill these objects in, and the
record module turns them into department records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

StreamKind = Literal["wage", "pension", "unemployment"]


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month ``count`` months after ``month``'s."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


@dataclass(frozen=True)
class Calendar:
    """The run's months: index 0 is the first simulated month."""

    start: dt.date
    months: int

    def month(self, index: int) -> dt.date:
        return add_months(self.start, index)

    def index(self, day: dt.date) -> int:
        return (day.year - self.start.year) * 12 + day.month - self.start.month

    def label(self, index: int) -> str:
        return self.month(index).strftime("%Y-%m")


@dataclass(frozen=True)
class Employer:
    code: str  # the employer code departments use (AAB001); exchange files use the name
    name: str
    office: str  # region of the insuring office (local) or of the sending platform
    exchange: bool  # wages arrive through the exchange, not the county's social insurance


@dataclass
class Stream:
    """One monthly income of one person, from ``start`` to ``end`` (month indices)."""

    kind: StreamKind
    amount: float  # nominal monthly amount, yuan
    start: int
    end: int | None = None  # exclusive; None: to the end of the run
    employer: Employer | None = None
    pension_code: str = ""  # AAE140 of a pension: 110 employees', 170 residents'
    seasonal: bool = False
    changes: list[tuple[int, float]] = field(default_factory=list)  # (from month, amount)
    can_miss: bool = True  # may lose a single month to noise
    protected: set[int] = field(default_factory=set)  # months noise must not touch
    evidence: dict[int, tuple[Label, int]] = field(default_factory=dict)  # month -> label, group

    def nominal(self, index: int, seasonal_months: frozenset[int], month_of_year: int) -> float:
        """What this stream pays in month ``index`` before month-to-month noise."""
        if index < self.start or (self.end is not None and index >= self.end):
            return 0.0
        if self.seasonal and month_of_year in seasonal_months:
            return 0.0
        amount = self.amount
        for since, changed in self.changes:
            if index >= since:
                amount = changed
        return amount

    def active(self, index: int) -> bool:
        return self.start <= index and (self.end is None or index < self.end)


@dataclass
class Account:
    bank: str
    balance: float  # at the start of the run
    jumps: list[tuple[int, float]] = field(default_factory=list)  # (month, new balance)
    evidence: dict[int, tuple[Label, int]] = field(default_factory=dict)  # month -> label, group


@dataclass
class Person:
    id_number: str
    name: str
    sex: str  # "M" or "F"
    birth: dt.date
    relation: str  # the roster's normalised relation: head, spouse, child, ...
    relation_code: str  # the raw GB/T 4761 code (20 son, 30 daughter, ...)
    household: str  # case number
    region: str  # the household's county, where the person is registered
    position: int  # place in the household: enrolment order, then additions
    joined: dt.date | None = None  # added after enrolment (a birth)
    active_until: dt.date | None = None  # died or moved away: records stop
    streams: list[Stream] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    student: bool = False

    def age(self, on: dt.date) -> int:
        years = on.year - self.birth.year
        return years - ((on.month, on.day) < (self.birth.month, self.birth.day))

    def wage_streams(self) -> list[Stream]:
        return [s for s in self.streams if s.kind == "wage"]


@dataclass
class Household:
    case: str
    region: str
    scheme: str  # dibao, tekun, low_income
    residence: str  # urban or rural
    line: float  # local line per person and month
    template: str
    members: list[Person]
    enrolled: dt.date
    other_income: float = 0.0  # farming and odd jobs: declared, in no department's records
    care: float = 0.0  # tekun care allowance
    exited: dt.date | None = None
    exit_reason: str = ""
    late: bool = False  # enrolled after the start of the run
    labels: list[Label] = field(default_factory=list)

    def present(self, day: dt.date) -> list[Person]:
        """Members on the roster and alive on ``day``."""
        return [
            p
            for p in self.members
            if (p.joined is None or p.joined <= day)
            and (p.active_until is None or day <= p.active_until)
        ]


@dataclass
class Label:
    """One injected life event (ground truth), before it gets its id."""

    event: str
    household: Household
    member: Person | None
    date: dt.date
    details: dict[str, Any]
    groups: int = 1  # evidence groups: the event is revealed when every group has arrived
    label_id: str = ""
    revealed: tuple[dt.datetime, str] | None = None  # arrival and file of the revealing record
