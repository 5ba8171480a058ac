"""Applying records to a household's state, and the figures detectors read.

:func:`apply` is the only place a record changes a household. It returns a
:class:`Change` saying what the record did (nothing, for a repeat), so that
detectors see both the record and what it changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import add

from engine import events as ev
from engine.config import RegionSettings
from engine.state import (
    BENEFIT,
    DEPOSIT,
    MEDICAL,
    PENSION,
    STATE_VERSION,
    WAGE,
    Entry,
    HouseholdState,
    MemberState,
)
from engine.timeline import day_index, first_day, month_index, month_of_day

NEW, REPEAT, CORRECTION, TOO_LATE, IGNORED = "new", "repeat", "correction", "too_late", "ignored"


@dataclass
class Change:
    """What one record did to a household."""

    outcome: str  # NEW, REPEAT, CORRECTION, TOO_LATE or IGNORED
    position: int = 0  # the member concerned (0: the household)
    month: int | None = None  # the month whose amounts changed
    previous: Mapping[str, object] = field(default_factory=dict)  # values before, for detectors

    @property
    def changed(self) -> bool:
        return self.outcome in (NEW, CORRECTION)


def short_hash(hex_digits: str) -> int:
    """32 bits of a hex digest: enough to tell records of one household apart."""
    return int(hex_digits[:8], 16)


def new_household(event: ev.RosterEnrolled, window_months: int) -> HouseholdState:
    day = day_index(event.event_time)
    return HouseholdState(
        v=STATE_VERSION,
        household=event.household,
        region=event.region,
        scheme=event.scheme,
        enrolled=day,
        members=[],
        base_month=month_of_day(day) - window_months + 1,
    )


# --- the monthly window ------------------------------------------------------------


def _series(state: HouseholdState, source: int, position: int) -> list[int]:
    if source == WAGE:
        member = state.member_at(position)
        return member.wages if member is not None else []
    if source in (PENSION, BENEFIT):
        member = state.member_at(position)
        return member.transfers if member is not None else []
    return state.medical if source == MEDICAL else []


def _roll(state: HouseholdState, month: int, window: int) -> None:
    """Move the window forward so that ``month`` is its last position."""
    shift = month - (state.base_month + window - 1)
    if shift <= 0:
        return
    members = [series for m in state.members for series in (m.wages, m.transfers)]
    for series in [state.medical, *members]:
        del series[: min(shift, len(series))]
    state.base_month += shift
    for member in state.members:
        if member.unread:
            member.unread = [u for u in member.unread if u[0] >= state.base_month]


def amount_at(series: list[int], state: HouseholdState, month: int) -> int:
    slot = month - state.base_month
    return series[slot] if 0 <= slot < len(series) else 0


def _add(state: HouseholdState, series: list[int], month: int, amount: int) -> None:
    slot = month - state.base_month
    if slot < 0:
        return
    if len(series) <= slot:
        series.extend([0] * (slot + 1 - len(series)))
    series[slot] += amount


def apply_amount(
    state: HouseholdState,
    *,
    source: int,
    position: int,
    month: int,
    key: int,
    fingerprint: int,
    amount: int,
    window: int,
    open_from: int,
) -> Change:
    """Add a monthly amount once; a repeat does nothing, a correction replaces.

    ``open_from`` is the oldest month that can still be corrected: the ledger
    forgets entries before it (bounded idempotency), so a record for an older
    month is too late to apply safely.
    """
    if month < open_from or month < state.base_month:
        return Change(TOO_LATE, position, month)
    _roll(state, month, window)
    existing = next((e for e in state.ledger if e.key == key and e.source == source), None)
    if existing is not None and existing.fingerprint == fingerprint:
        return Change(REPEAT, position, month)
    state.since = month if state.since < 0 else min(state.since, month)
    series = _series(state, source, position)
    outcome = NEW
    previous: Mapping[str, object] = {}
    if existing is not None:
        if source != DEPOSIT:
            _add(state, _series(state, source, existing.position), existing.month, -existing.amount)
        previous = {"amount": existing.amount, "month": existing.month}
        state.ledger.remove(existing)
        outcome = CORRECTION
    if source != DEPOSIT:
        _add(state, series, month, amount)
    state.ledger.append(Entry(month, source, position, key, fingerprint, amount))
    return Change(outcome, position, month, previous)


def mark_unreadable(
    state: HouseholdState,
    *,
    position: int,
    month: int,
    source: int,
    window: int,
    open_from: int,
) -> Change:
    """Note that a row of a member's income in ``month`` could not be read.

    ``source`` is the row's kind (WAGE, PENSION or BENEFIT), or 0 when that was
    unreadable too. Marks are kept per month and source, so a repeat, or a
    second unreadable row of the same kind and month, changes nothing.
    """
    if month < open_from or month < state.base_month:
        return Change(TOO_LATE, position, month)
    member = state.member_at(position)
    if member is None:
        return Change(IGNORED, position, month)
    if (month, source) in member.unread:
        return Change(REPEAT, position, month)
    _roll(state, month, window)
    state.since = month if state.since < 0 else min(state.since, month)
    member.unread = sorted([*member.unread, (month, source)])
    return Change(NEW, position, month)


def forget_closed(state: HouseholdState, open_from: int) -> None:
    """Drop ledger entries of months that can no longer be corrected."""
    state.ledger = [e for e in state.ledger if e.month >= open_from]


# --- derived figures -----------------------------------------------------------------


WAGE_ROWS, TRANSFER_ROWS = (0, WAGE), (0, PENSION, BENEFIT)  # unread sources of each series


def _unread(member: MemberState, month: int, sources: tuple[int, ...]) -> bool:
    return any(m == month and s in sources for m, s in member.unread)


def _read_amount(
    state: HouseholdState,
    member: MemberState,
    series: list[int],
    sources: tuple[int, ...],
    month: int,
) -> int:
    """A member's amount of a month; at least the amount before, when a row of it was unreadable.

    A rejected row is not income that stopped: it says that something was paid
    that month. The month counts what the member had in the latest month before
    it whose rows were all read and paid something (a month with no row at all,
    a late or a lost one, says nothing of the amount).
    """
    amount = amount_at(series, state, month)
    if not member.unread or not _unread(member, month, sources):
        return amount
    for before in range(month - 1, state.base_month - 1, -1):
        if not _unread(member, before, sources):
            paid = amount_at(series, state, before)
            if paid:
                return max(amount, paid)
    return amount


def wage_row_unreadable(member: MemberState, month: int) -> bool:
    """Did a row of the member's wages (or of an unknown kind) in ``month`` fail to be read?"""
    return bool(member.unread) and _unread(member, month, WAGE_ROWS)


def member_wages(state: HouseholdState, member: MemberState, month: int) -> int:
    """A member's wages in a month (see :func:`_read_amount` for unreadable rows)."""
    return _read_amount(state, member, member.wages, WAGE_ROWS, month)


def member_income(state: HouseholdState, member: MemberState, month: int) -> int:
    """Wages, pension and unemployment benefit of one member in a month."""
    return member_wages(state, member, month) + _read_amount(
        state, member, member.transfers, TRANSFER_ROWS, month
    )


def in_household(member: MemberState, month: int) -> bool:
    """Was the member part of the household, and alive, for some of the month?"""
    start = first_day(month)
    if member.joined >= first_day(month + 1):
        return False
    left, died = member.left, member.died
    return (left is None or left > start) and (died is None or died >= start)


def has_income(member: MemberState) -> bool:
    """Whether any income of the member is recorded (wages, transfers, unreadable rows)."""
    return bool(member.wages or member.transfers or member.unread)


def counted_income(state: HouseholdState, member: MemberState, month: int) -> int:
    """A member's income as the household's in a month: :func:`member_income` while
    part of it (:func:`in_household`), else 0 (what :func:`household_income` sums)."""
    return member_income(state, member, month) if in_household(member, month) else 0


# Figures of households whose records cannot change for a while (a month decision
# runs every detector over one state): id(state) -> income by window slot, and
# id(state) -> month -> people at the month's end (filled as asked).
_FIXED: dict[int, list[int]] = {}
_PEOPLE: dict[int, dict[int, int]] = {}


@contextmanager
def incomes_fixed(state: HouseholdState) -> Iterator[None]:
    """Remember ``state``'s monthly incomes until the block ends.

    Detectors deciding a month ask for the same months' incomes many times;
    nothing may change the state's amounts or members inside the block.
    """
    _FIXED[id(state)] = _incomes(state)
    _PEOPLE[id(state)] = {}
    try:
        yield
    finally:
        del _FIXED[id(state)], _PEOPLE[id(state)]


def household_income(state: HouseholdState, month: int) -> int:
    """The month's income of the members who were part of the household then.

    Payments recorded for a member after their death or departure are not the
    household's income (they are conflicting records, alerted as such).
    """
    fixed = _FIXED.get(id(state)) if _FIXED else None
    if fixed is not None:
        slot = month - state.base_month
        return fixed[slot] if 0 <= slot < len(fixed) else 0
    return _household_income(state, month)


def _incomes(state: HouseholdState) -> list[int]:
    """Every month's :func:`household_income` at once, by slot of the window
    (``base_month`` first; months beyond the list: 0)."""
    base = state.base_month
    totals = [0] * max([len(s) for m in state.members for s in (m.wages, m.transfers)], default=0)
    for m in state.members:
        if not has_income(m):
            continue  # (a child, say: nothing to count)
        # The months in_household holds for: from the month joined to the month
        # before leaving (left is the first day away) and the month of death.
        first = month_of_day(m.joined)
        last = 1 << 30
        if m.left is not None:
            last = month_of_day(m.left - 1)
        if m.died is not None:
            last = min(last, month_of_day(m.died))
        start = max(0, first - base)
        for series in (m.wages, m.transfers):
            end = min(len(series), last - base + 1)
            if start < end:  # (integers: the order of the sums does not matter)
                totals[start:end] = map(add, totals[start:end], series[start:end])
        if not m.unread:
            continue
        for month in sorted({u[0] for u in m.unread if first <= u[0] <= last}):
            slot = month - base
            if slot >= len(totals):
                totals.extend([0] * (slot + 1 - len(totals)))
            recorded = amount_at(m.wages, state, month) + amount_at(m.transfers, state, month)
            totals[slot] += member_income(state, m, month) - recorded
    return totals


def _household_income(state: HouseholdState, month: int) -> int:
    slot = month - state.base_month
    total = 0
    for m in state.members:
        if in_household(m, month):
            if m.unread:
                total += member_income(state, m, month)
                continue
            wages, transfers = m.wages, m.transfers
            if 0 <= slot < len(wages):
                total += wages[slot]
            if 0 <= slot < len(transfers):
                total += transfers[slot]
    return total


def members_on(state: HouseholdState, day: int) -> list[MemberState]:
    """Members who belong to the household and are alive on ``day``."""
    return [m for m in state.members if m.active(day) and m.alive_at(day)]


def income_share(state: HouseholdState, member: MemberState, months: list[int]) -> float:
    """The member's share of household income over ``months`` (0 when there was none)."""
    total = sum(household_income(state, m) for m in months)
    if total <= 0:
        return 0.0
    return sum(member_income(state, member, m) for m in months) / total


def known(state: HouseholdState, month: int) -> bool:
    """Does the household's history reach back to ``month`` (and is it still in the window)?"""
    return state.since >= 0 and state.since <= month and month >= state.base_month


def per_capita(state: HouseholdState, month: int) -> float | None:
    """Household income per living member in the month (None if nobody is left)."""
    counted = _PEOPLE.get(id(state)) if _PEOPLE else None
    people = counted.get(month) if counted is not None else None
    if people is None:
        people = len(members_on(state, first_day(month + 1) - 1))
        if counted is not None:
            counted[month] = people
    return household_income(state, month) / people if people else None


def local_line(state: HouseholdState, region: RegionSettings | None) -> float | None:
    if region is None:
        return None
    return region.rural_line if state.residence == "rural" else region.urban_line


def event_month(event: ev.Event) -> int:
    month = getattr(event, "month", None)
    return month_index(month) if month else month_of_day(day_index(event.event_time))
