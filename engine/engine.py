"""The step: a batch of events in, alerts out, state in the store.

:meth:`Engine.process` is the one way a record reaches a household: resolved
from person to household by the roster's dates, applied once, shown to the
detectors, its findings turned into alerts. After the batch, months that can
now be decided are decided, region by region and household by household in a
fixed order, so that a replay decides exactly as the live run did. Time is the
records' own: the latest arrival time seen is the engine's clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from engine import events as ev
from engine.alert import Alert
from engine.alerting import AlertMaker
from engine.apply import Context, apply
from engine.calendar import Calendar, Decision, covers, decode_calendar, encode_calendar
from engine.config import RegionSettings, Settings
from engine.directory import (
    JOIN,
    LEAVE,
    Fact,
    Held,
    PersonIndex,
    decode_index,
    decode_pending,
    encode_index,
    encode_pending,
)
from engine.findings import Finding, View
from engine.household import Change, event_month, forget_closed, incomes_fixed, new_household
from engine.outbox import decode_outbox, encode_outbox
from engine.routing import Tick, named
from engine.state import HouseholdState, SavedStates, encode_state
from engine.store import (
    Store,
    StoreConflict,
    Workspace,
    clock_key,
    household_key,
    journal_key,
    model_key,
    outbox_index,
    outbox_key,
    pending_index,
    pending_key,
    person_key,
    recover,
    redo_index,
    region_index,
    region_key,
)
from engine.timeline import day_index, day_timestamp, first_day, month_name, month_of_day


class DetectorLike(Protocol):
    """What the engine needs of a detector (see detectors.base.Detector)."""

    @property
    def name(self) -> str: ...

    def on_record(self, view: View, event: ev.Event, change: Change) -> list[Finding]: ...
    def on_month(self, view: View, month: int) -> list[Finding]: ...


CONFLICT_ATTEMPTS = 5  # a batch whose shared keys another worker changed is run again
SAVED_STATES = 5_000  # households an engine keeps decoded between steps (SavedStates; ~10 KB each)


class OperatorAlert(msgspec.Struct, kw_only=True, frozen=True):
    """For operators, not caseworkers: a department batch missing or too small."""

    kind: str
    region: str
    month: str
    departments: list[str]
    message: str


@dataclass(frozen=True)
class Forward:
    """A record whose household another scope owns: to be sent there."""

    region: str
    household: str
    event: ev.Event


@dataclass
class StepResult:
    alerts: list[Alert] = field(default_factory=list)
    operator: list[OperatorAlert] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    forward: list[Forward] = field(default_factory=list)
    outbox: set[str] = field(default_factory=set)  # households whose outbox was written
    enrolled: dict[str, str] = field(default_factory=dict)  # new households and their counties

    def merge(self, other: StepResult) -> None:
        self.alerts += other.alerts
        self.operator += other.operator
        self.counts.update(other.counts)
        self.forward += [f for f in other.forward if f not in self.forward]
        self.outbox |= other.outbox
        self.enrolled.update(other.enrolled)


class Engine:
    def __init__(
        self,
        settings: Settings,
        detectors: Sequence[DetectorLike],
        alert_maker: AlertMaker,
        store: Store,
        *,
        backfill_until: str | None = None,
        scope: str = "engine",
        owns: Callable[[str], bool] | None = None,
        outbox: bool = False,
        saved_states: int = SAVED_STATES,
    ) -> None:
        """``scope`` names this engine's own keys (clock, held-record index,
        outbox index) when several engines share a store; ``owns`` says which
        regions this engine decides (records of other regions' households come
        back in :attr:`StepResult.forward`); with ``outbox`` every alert is
        also recorded, atomically with its household's state, under
        :func:`~engine.store.outbox_key` until :mod:`engine.outbox` clears it.
        ``saved_states`` households are kept decoded between steps.
        """
        self.settings = settings
        self.detectors = list(detectors)
        # Detectors with models shared by a region's households (checkpointed per region).
        self.shared = [d for d in self.detectors if getattr(d, "shared", False)]
        self.alerts = alert_maker
        self.store = store
        self.regions: dict[str, RegionSettings] = {r.code: r for r in settings.regions}
        self.backfill_day = day_index(backfill_until) if backfill_until else None
        self.watermark = ""  # the latest arrival time seen: the engine's clock
        self.restored: set[tuple[str, str]] = set()  # (region, detector) shared models loaded
        self.scope = scope
        self.expired_through = -1  # the clock's day held records were last expired on
        self.owns = owns or (lambda region: True)
        self.owned = sorted(r for r in self.regions if self.owns(r))
        self.outbox = outbox
        self.saved = SavedStates(saved_states)

    # --- the batch ---------------------------------------------------------------------

    def process(self, batch: Sequence[ev.Event | Tick], *, settle: bool = True) -> StepResult:
        """Apply the batch; run it again if another writer changed a shared key first.

        Months are decided when the clock moves on: before the first record
        that arrived later than every record so far, whatever is due as of
        the arrival time just completed is decided. So a decision sees every
        record of its arrival time and none later, however the records were
        cut into batches. With ``settle`` (the stream has nothing more for
        now: the end of a replay, an idle worker) what is due at the current
        time is decided too; without it, that waits for the next record.

        A run that lost a race wrote everything else, and running a batch
        again changes nothing it already changed, so the second run only
        finishes what the first could not.
        """
        if not self.watermark:  # a new process: finish what the last one was writing,
            if recover(self.store, journal_key(self.scope)):  # then take its clock
                self.restored.clear()
            stored = self.store.get_many([clock_key(self.scope)])[0]
            self.watermark = stored.decode() if stored else ""
        combined = StepResult()
        for _ in range(CONFLICT_ATTEMPTS):
            step = _Step(self, Workspace(self.store, journal_key(self.scope)))
            step.prefetch(batch)
            for event in batch:
                step.one(event)
            if settle:
                step.decide_months()
            try:
                step.save()
            except StoreConflict:
                combined.merge(step.result)
                combined.counts["store_conflicts"] += 1
                continue
            combined.merge(step.result)
            return combined
        raise StoreConflict([f"{CONFLICT_ATTEMPTS} attempts at one batch"])


class _Step:
    """The working state of one batch (loaded once, saved once)."""

    def __init__(self, engine: Engine, ws: Workspace) -> None:
        self.engine = engine
        self.ws = ws
        self.settings = engine.settings.engine
        self.result = StepResult()
        self.households: dict[str, HouseholdState | None] = {}
        self.indexes: dict[str, PersonIndex] = {}
        self.calendars: dict[str, Calendar] = {}
        self.new_members: dict[str, set[str]] = {}  # region -> households added in this batch
        self.outbox: dict[str, list[Alert]] = {}  # household -> alerts to record
        self.learned: set[str] = set()  # regions whose shared models learned in this step

    # --- loading and saving ------------------------------------------------------------

    def prefetch(self, batch: Sequence[ev.Event | Tick]) -> None:
        persons = {p for e in batch for p in named(e)}
        self.ws.prefetch(
            [person_key(p) for p in persons] + [region_key(r) for r in self.engine.owned]
        )
        households = {getattr(e, "household", None) for e in batch} - {None}
        for person in persons:
            households.update(self.index(person).households())
        keys = [household_key(h) for h in households if h]
        if self.engine.outbox:
            keys += [outbox_key(h) for h in households if h]
        self.ws.prefetch(keys)

    def index(self, person: str) -> PersonIndex:
        if person not in self.indexes:
            self.indexes[person] = decode_index(self.ws.get(person_key(person)))
        return self.indexes[person]

    def household(self, household: str) -> HouseholdState | None:
        if household not in self.households:
            blob = self.ws.get(household_key(household))
            self.households[household] = self.engine.saved.take(household, blob) if blob else None
        return self.households[household]

    def calendar(self, region: str) -> Calendar:
        if region not in self.calendars:
            book = decode_calendar(self.ws.get(region_key(region)))
            self.calendars[region] = Calendar(region, book, self.settings)
        return self.calendars[region]

    def save(self) -> None:
        keep = self.settings.correction_months + self.settings.source_skew_months
        saved: list[tuple[str, bytes, HouseholdState]] = []
        for household, state in self.households.items():
            if state is not None:
                # Forget what no record can correct any more: a function of the
                # household's own records, so every arrival order forgets the same.
                forget_closed(state, state.latest - keep + 1)
                blob = encode_state(state)
                self.ws.put(household_key(household), blob)
                saved.append((household, blob, state))
        for person, index in self.indexes.items():
            self.ws.put(person_key(person), encode_index(index) if index.facts else None)
        for region, calendar in self.calendars.items():
            self.ws.put(region_key(region), encode_calendar(calendar.book))
        for household, alerts in self.outbox.items():
            waiting = decode_outbox(self.ws.get(outbox_key(household)))
            self.ws.put(outbox_key(household), encode_outbox(waiting + alerts))
            self.ws.index_add(outbox_index(self.engine.scope), household)
            self.result.outbox.add(household)
        if self.engine.watermark:
            self.ws.put(clock_key(self.engine.scope), self.engine.watermark.encode())
        self.ws.commit()
        for household, blob, state in saved:
            self.engine.saved.keep(household, blob, state)

    # --- one record --------------------------------------------------------------------

    def one(self, event: ev.Event | Tick) -> None:
        if event.received_at > self.engine.watermark:
            if self.engine.watermark:
                self.decide_months()  # everything due once the last arrival time is complete
            self.engine.watermark = event.received_at
        if isinstance(event, Tick):
            return
        kind = str(event.__struct_config__.tag)
        self.result.counts[f"in:{kind}"] += 1
        if isinstance(event, ev.BatchEnd):
            self.batch_end(event)
        elif kind.startswith("roster."):
            self.roster(event)
        else:
            self.person_record(event)

    def batch_end(self, event: ev.BatchEnd) -> None:
        for region in self.engine.owned:
            if covers(event.region, region):
                self.calendar(region).add_batch(
                    event.department, event.region, event_month(event), int(event.record_count)
                )

    def roster(self, event: ev.Event) -> None:
        household: str = getattr(event, "household")  # noqa: B009 - every roster kind has one
        state = self.household(household)
        region = state.region if state is not None else event.region
        if region in self.engine.regions and not self.engine.owns(region):
            self.result.forward.append(Forward(region, household, event))
            return
        if state is None:
            if not isinstance(event, ev.RosterEnrolled):
                # A roster change for a household not enrolled (yet): keep it until it is.
                self.hold(f"household:{household}", event)
                return
            if event.region not in self.engine.regions:
                self.result.counts["roster_outside_monitored_regions"] += 1
                return
            state = new_household(event, self.settings.window_months)
            self.households[household] = state
            self.result.enrolled[household] = state.region
            self.ws.index_add(region_index(state.region), household)
            self.new_members.setdefault(state.region, set()).add(household)
        self.apply_to(state, event)
        day = day_index(event.event_time)
        if isinstance(event, ev.RosterEnrolled):
            for member in event.members:
                self.join(member.person, day, household)
            self.release(f"household:{household}")
        elif isinstance(event, ev.RosterMemberAdded):
            self.join(event.person, day, household)
        elif isinstance(event, ev.RosterMemberRemoved):
            self.index(event.person).add(Fact(day, LEAVE, household))
        elif isinstance(event, ev.RosterExited):
            for leaving in state.members:
                self.index(leaving.person).add(Fact(day, LEAVE, household))

    def join(self, person: str, day: int, household: str) -> None:
        if self.index(person).add(Fact(day, JOIN, household)):
            self.release(person)

    def person_record(self, event: ev.Event) -> None:
        person: str = getattr(event, "person", "")
        day = day_index(event.event_time)
        index = self.index(person)
        household = index.resolve(day, self.settings.pending_horizon_days)
        if household is None:
            household = self.removed_at_death(index, person, day)
        state = self.household(household) if household else None
        if state is None:
            self.hold(person, event)
            return
        if not self.engine.owns(state.region):
            self.result.forward.append(Forward(state.region, state.household, event))
            return
        self.apply_to(state, event)

    def removed_at_death(self, index: PersonIndex, person: str, day: int) -> str | None:
        """The household a dead person was removed from, for their records dated after.

        The roster removes a member who died; wages or claims that still come
        for them are not a new household's history but a conflict to report,
        so they go to the household they died in.
        """
        household = index.left_before(day)
        state = self.household(household) if household else None
        member = state.member(person) if state is not None else None
        if member is None or member.died is None or member.left is None:
            return None
        return household if member.died <= member.left and member.died <= day else None

    def apply_to(self, state: HouseholdState, event: ev.Event) -> None:
        calendar = self.calendar(state.region)
        month = event_month(event)
        if not isinstance(event, ev.RosterEnrolled | ev.RosterMemberAdded):
            calendar.note_month(month)  # the region's months start with its first records
        # A record is too late when its month is more than correction_months
        # before its own arrival (a fact about the record alone), or before what
        # this household's ledger still remembers (which, while departments'
        # deliveries stay within source_skew_months of each other, is the same
        # in every arrival order). The second rule makes replays of old records
        # harmless once their ledger entries are forgotten.
        arrived = month_of_day(day_index(event.received_at))
        remembered = (
            state.latest - self.settings.correction_months - self.settings.source_skew_months + 1
        )
        open_from = max(arrived - self.settings.correction_months + 1, remembered)
        state.latest = max(state.latest, arrived)
        change = apply(state, event, Context(self.settings.window_months, open_from))
        self.result.counts[f"applied:{change.outcome}"] += 1
        if not change.changed:
            return
        view = View(state, self.engine.regions.get(state.region), calendar.book.decided)
        findings = [f for d in self.engine.detectors for f in d.on_record(view, event, change)]
        silent = (
            self.engine.backfill_day is not None
            and day_index(event.event_time) <= self.engine.backfill_day
        )
        self.emit(state, calendar, findings, silent=silent)
        if change.month is not None and change.month <= calendar.book.decided:
            # A late record: decide that month again at the next decision point,
            # and the decided months after it, whose rules look back on it (two
            # months running, the month before a drop). Kept with the state, so a
            # batch boundary or a restart cannot lose it.
            again = range(change.month, calendar.book.decided + 1)
            added = [m for m in again if m not in state.redo]
            if added:
                state.redo.extend(added)
                self.ws.index_add(redo_index(self.engine.scope), state.household)

    # --- records waiting for their person or household --------------------------------

    def hold(self, owner: str, event: ev.Event) -> None:
        key = pending_key(owner)
        pending = decode_pending(self.ws.get(key))
        blob = ev.encode(event)
        if any(h.event == blob for h in pending.records):
            return
        pending.records.append(Held(day_index(event.event_time), blob))
        self.ws.put(key, encode_pending(pending))
        self.ws.index_add(pending_index(self.engine.scope), owner)
        self.result.counts["held"] += 1

    def release(self, owner: str) -> None:
        key = pending_key(owner)
        pending = decode_pending(self.ws.get(key))
        if not pending.records:
            return
        self.ws.put(key, None)
        self.ws.index_remove(pending_index(self.engine.scope), owner)
        for held in sorted(pending.records, key=lambda h: h.day):
            self.result.counts["released"] += 1
            self.one(ev.decode_event(held.event))

    # --- month decisions ---------------------------------------------------------------

    def decide_months(self) -> None:
        watermark_day = day_index(self.engine.watermark) if self.engine.watermark else -1
        for region in self.engine.owned:
            calendar = self.calendar(region)
            decisions = calendar.decide(watermark_day)
            late = calendar.completed_late()
            for decision in decisions:
                self.decide(region, decision)
            for month in late:
                self.decide(region, Decision(month, True, ()), again=True)
            if decisions or late:
                # Batch marks and alert counts of months no record can change any more.
                keep = self.settings.correction_months + self.settings.source_skew_months
                calendar.forget_before(calendar.book.decided - keep)
        waiting = sorted(
            set(self.ws.store.index_members(redo_index(self.engine.scope)))
            | {h for h, s in self.households.items() if s is not None and s.redo}
        )
        self.ws.prefetch(household_key(h) for h in waiting)
        for household in waiting:
            state = self.household(household)
            if state is not None and self.engine.owns(state.region):
                months, state.redo = sorted(state.redo), []
                for month in months:
                    complete = month not in self.calendar(state.region).book.incomplete
                    self.decide_household(state, Decision(month, complete, ()), again=True)
            self.ws.index_remove(redo_index(self.engine.scope), household)
        for region in sorted(self.learned):
            self.checkpoint_models(region)
        self.learned.clear()
        if watermark_day > self.engine.expired_through:
            # Daily, on the clock every partition shares (ticks), not on a county's
            # decisions: a partition owning no county holds records too.
            self.expire_pending(watermark_day)
            self.engine.expired_through = watermark_day

    def expire_pending(self, today: int) -> None:
        """Drop held records whose person was not enrolled within the horizon (counted).

        A record waits ``pending_horizon_days`` after its date, plus ``grace_days``
        for the roster record to arrive, measured on the engine's clock.
        """
        owners = self.ws.store.index_members(pending_index(self.engine.scope))
        self.ws.prefetch(pending_key(o) for o in owners)
        limit = today - self.settings.pending_horizon_days - self.settings.grace_days
        for owner in owners:
            pending = decode_pending(self.ws.get(pending_key(owner)))
            kept = [h for h in pending.records if h.day >= limit]
            expired = len(pending.records) - len(kept)
            if pending.records and not expired:
                continue
            self.result.counts["expired"] += expired
            pending.records = kept
            self.ws.put(pending_key(owner), encode_pending(pending) if kept else None)
            if not kept:  # (or nothing was held: another scope released it)
                self.ws.index_remove(pending_index(self.engine.scope), owner)

    def erase(self, state: HouseholdState) -> None:
        """Forget a household that exited longer ago than the retention period."""
        household = state.household
        self.ws.prefetch(person_key(m.person) for m in state.members)
        for member in state.members:
            index = self.index(member.person)
            index.facts = [f for f in index.facts if f.household != household]
        self.households[household] = None
        self.ws.put(household_key(household), None)
        self.ws.index_remove(region_index(state.region), household)
        self.result.counts["erased"] += 1

    def restore_models(self, region: str) -> None:
        """Load the region's shared models once per engine (after a restart, from the store)."""
        for detector in self.engine.shared:
            if (region, detector.name) not in self.engine.restored:
                detector.restore(region, self.ws.get(model_key(region, detector.name)))  # type: ignore[attr-defined]
                self.engine.restored.add((region, detector.name))

    def checkpoint_models(self, region: str) -> None:
        for detector in self.engine.shared:
            self.ws.put(model_key(region, detector.name), detector.checkpoint(region))  # type: ignore[attr-defined]

    def region_households(self, region: str) -> list[str]:
        stored = self.ws.store.index_members(region_index(region))
        return sorted(set(stored) | self.new_members.get(region, set()))

    def decide(self, region: str, decision: Decision, again: bool = False) -> None:
        self.result.counts["months_decided"] += 1
        backfill = self.engine.backfill_day
        history = backfill is not None and first_day(decision.month + 1) <= backfill
        if not decision.complete and not history:
            self.result.operator.append(
                OperatorAlert(
                    kind="batch_missing_or_small",
                    region=region,
                    month=month_name(decision.month),
                    departments=list(decision.missing),
                    message=(
                        f"{', '.join(decision.missing)}: end-of-batch for region {region} month "
                        f"{month_name(decision.month)} missing or far below its usual size; "
                        "decisions that rest on absent records wait for it"
                    ),
                )
            )
        households = self.region_households(region)
        self.ws.prefetch(household_key(h) for h in households)
        for household in households:
            state = self.household(household)
            if state is not None:
                self.decide_household(state, decision, again)

    def decide_household(self, state: HouseholdState, decision: Decision, again: bool) -> None:
        month = decision.month
        if state.exited is not None and state.exited < first_day(month):
            today = day_index(self.engine.watermark) if self.engine.watermark else -1
            if today > state.exited + self.settings.retention_days:
                self.erase(state)
            return
        if month <= state.decided and not again:
            return
        # The county's models as the store has them, before any use (a process
        # that just started would otherwise score or learn with empty ones).
        self.restore_models(state.region)
        if month > state.decided:
            self.learned.add(state.region)  # the models learn: checkpoint them
        calendar = self.calendar(state.region)
        # A month decided now is final (no record can change it) this many months later.
        lag = self.settings.correction_months + self.settings.source_skew_months
        view = View(
            state,
            self.engine.regions.get(state.region),
            calendar.book.decided,
            decision.complete,
            final_month=month - lag,
        )
        with incomes_fixed(state):
            findings = [f for d in self.engine.detectors for f in d.on_month(view, month)]
        end_of_month = first_day(month + 1)
        silent = self.engine.backfill_day is not None and end_of_month <= self.engine.backfill_day
        self.emit(state, calendar, findings, silent=silent, decided_month=month)
        state.decided = max(state.decided, month)

    def emit(
        self,
        state: HouseholdState,
        calendar: Calendar,
        findings: list[Finding],
        *,
        silent: bool,
        decided_month: int | None = None,
    ) -> None:
        processed_at = self.engine.watermark or day_timestamp(0)
        alerts = self.engine.alerts.reconcile(
            state, calendar.book, findings, processed_at, decided_month, silent
        )
        self.result.alerts.extend(alerts)
        if alerts and self.engine.outbox:
            self.outbox.setdefault(state.household, []).extend(alerts)
