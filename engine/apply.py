"""One handler per record kind: how a record changes its household's state.

Handlers are looked up by kind (:data:`HANDLERS`); each returns a
:class:`~engine.household.Change`. Applying the same record twice changes
nothing the second time, whatever the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine import events as ev
from engine.household import (
    IGNORED,
    NEW,
    REPEAT,
    Change,
    apply_amount,
    event_month,
    mark_unreadable,
    short_hash,
)
from engine.state import BENEFIT, DEPOSIT, MEDICAL, PENSION, WAGE, HouseholdState, MemberState
from engine.timeline import day_index


@dataclass(frozen=True)
class Context:
    window: int  # months kept
    open_from: int  # oldest month that can still be corrected


Handler = Callable[[HouseholdState, ev.Event, Context], Change]


def _member(state: HouseholdState, event: ev.Event) -> MemberState | None:
    return state.member(getattr(event, "person", ""))


def _enrolled(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    assert isinstance(event, ev.RosterEnrolled)
    day = day_index(event.event_time)
    before = (state.scheme, state.residence, state.monthly_benefit, state.declared_income)
    state.scheme = event.scheme
    state.residence = event.residence
    state.monthly_benefit = round(event.monthly_benefit)
    state.declared_income = round(event.declared_income)
    state.enrolled = min(state.enrolled, day)
    added = False
    for member in event.members:
        if state.member(member.person) is None:
            state.members.append(
                MemberState(member.person, int(member.position), member.relation, day)
            )
            added = True
    after = (state.scheme, state.residence, state.monthly_benefit, state.declared_income)
    return Change(NEW if added or before != after else REPEAT)


def _member_added(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    assert isinstance(event, ev.RosterMemberAdded)
    day = day_index(event.event_time)
    member = state.member(event.person)
    if member is not None:
        if member.joined == day:
            return Change(REPEAT, member.position)
        member.joined = min(member.joined, day)
        return Change(NEW, member.position)
    position = max((m.position for m in state.members), default=0) + 1
    state.members.append(MemberState(event.person, position, event.relation, day))
    return Change(NEW, position)


def _member_removed(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    member = _member(state, event)
    if member is None:
        return Change(IGNORED)
    day = day_index(event.event_time)
    if member.left == day:
        return Change(REPEAT, member.position)
    member.left = day
    return Change(NEW, member.position)


def _exited(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    day = day_index(event.event_time)
    if state.exited == day:
        return Change(REPEAT)
    state.exited = day
    return Change(NEW)


def _death(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    member = _member(state, event)
    if member is None:
        return Change(IGNORED)
    day = day_index(event.event_time)
    if member.died == day:
        return Change(REPEAT, member.position)
    previous = {"died": member.died}
    member.died = day
    return Change(NEW, member.position, previous=previous)


def _moved_out(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    assert isinstance(event, ev.MovedOut)
    member = _member(state, event)
    if member is None:
        return Change(IGNORED)
    day = day_index(event.event_time)
    if member.moved_out == day and member.moved_to == event.to_region:
        return Change(REPEAT, member.position)
    member.moved_out, member.moved_to = day, event.to_region
    return Change(NEW, member.position)


def _moved_in(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    member = _member(state, event)
    if member is None or member.moved_out is None:
        return Change(IGNORED if member is None else REPEAT, member.position if member else 0)
    if day_index(event.event_time) > member.moved_out:  # came back
        member.moved_out, member.moved_to = None, None
        return Change(NEW, member.position)
    return Change(REPEAT, member.position)


def _amount(source: int, value_field: str) -> Handler:
    def handle(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
        member = _member(state, event)
        if member is None:
            return Change(IGNORED)
        return apply_amount(
            state,
            source=source,
            position=member.position,
            month=event_month(event),
            key=short_hash(event.event_id[3:]),
            fingerprint=short_hash(event.fingerprint),
            amount=round(getattr(event, value_field)),
            window=ctx.window,
            open_from=ctx.open_from,
        )

    return handle


_INCOME_SOURCES = {
    "income.wage": WAGE,
    "income.pension": PENSION,
    "income.unemployment_benefit": BENEFIT,
}


def _unreadable(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    """A row of the member's income that could not be read: that month is not known empty."""
    assert isinstance(event, ev.RecordUnreadable)
    member = _member(state, event)
    if member is None:
        return Change(IGNORED)
    return mark_unreadable(
        state,
        position=member.position,
        month=event_month(event),
        source=_INCOME_SOURCES.get(event.record_kind or "", 0),
        window=ctx.window,
        open_from=ctx.open_from,
    )


def _employment(started: bool) -> Handler:
    def handle(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
        member = _member(state, event)
        if member is None:
            return Change(IGNORED)
        employer: str = getattr(event, "employer", "")
        day = day_index(event.event_time)
        mark = day if started else -day - 1
        known = member.jobs.get(employer)
        if known == mark:
            return Change(REPEAT, member.position)
        if known is not None and abs(known) > abs(mark):
            return Change(REPEAT, member.position)  # an older change of the same job: already past
        member.jobs = {**member.jobs, employer: mark}
        return Change(NEW, member.position)

    return handle


def _disability(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    member = _member(state, event)
    if member is None:
        return Change(IGNORED)
    level = int(getattr(event, "level", 0))
    if member.disability == level:
        return Change(REPEAT, member.position)
    previous = {"level": member.disability}
    member.disability = level
    return Change(NEW, member.position, previous=previous)


def _asset(kind: str) -> Handler:
    def handle(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
        member = _member(state, event)
        if member is None:
            return Change(IGNORED)
        key = f"{kind}:{short_hash(event.event_id[3:]):08x}"
        if key in state.assets:
            return Change(REPEAT, member.position)
        state.assets[key] = day_index(event.event_time)
        return Change(NEW, member.position)

    return handle


def _noop(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    return Change(IGNORED)


HANDLERS: dict[str, Handler] = {
    "roster.enrolled": _enrolled,
    "roster.member_added": _member_added,
    "roster.member_removed": _member_removed,
    "roster.exited": _exited,
    "registration.birth": _noop,  # a newborn joins through the roster
    "registration.death": _death,
    "registration.moved_in": _moved_in,
    "registration.moved_out": _moved_out,
    "income.wage": _amount(WAGE, "amount"),
    "income.pension": _amount(PENSION, "amount"),
    "income.unemployment_benefit": _amount(BENEFIT, "amount"),
    "employment.started": _employment(started=True),
    "employment.ended": _employment(started=False),
    "medical.settlement": _amount(MEDICAL, "out_of_pocket"),
    "disability.certified": _disability,
    "disability.cancelled": _disability,  # level 0
    "asset.property": _asset("property"),
    "asset.vehicle": _asset("vehicle"),
    "asset.company": _asset("company"),
    "asset.deposit": _amount(DEPOSIT, "balance"),
    "record.unreadable": _unreadable,
    "batch.end": _noop,  # the engine's calendar handles it
}


def apply(state: HouseholdState, event: ev.Event, ctx: Context) -> Change:
    kind = str(event.__struct_config__.tag)
    return HANDLERS[kind](state, event, ctx)
