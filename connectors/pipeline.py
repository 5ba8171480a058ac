"""The worker's two steps, free of faust: what happens to a batch of messages.

:class:`Pipeline` holds everything the worker's agents call (connectors/worker.py
adapts it to faust):

- :meth:`Pipeline.normalise` turns department messages into events through
  the same normaliser as the file path, sends every reject to the dead-letter
  topic and every event to its household's partition (:mod:`engine.routing`);
- :meth:`Pipeline.decide` runs one partition's events through that partition's
  engine (Redis state, alerts recorded in the outbox with it), sends the
  records another partition owns on, publishes the outbox and clears it.

Correctness never rests on the consumer's offset bookkeeping: each step saves
the next offset to read, per topic partition, in Redis *after* everything it
caused is stored and acknowledged (:meth:`Pipeline.published`), and a
worker that is given a partition starts from there. Everything before that
point is safe to do twice: events have stable ids, the engine applies a
record once, and alerts leave the outbox only when the broker has them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from connectors.arrival_order import ArrivalOrder, Rank
from connectors.department_topics import DepartmentTopics, withheld
from connectors.files import Reject
from connectors.kafka_ingest import TOPIC_PREFIX
from detectors.catalog import EngineConfig
from engine import outbox
from engine.alert import Alert
from engine.directory import decode_index
from engine.engine import Engine, StepResult
from engine.events import (
    CST,
    BatchEnd,
    Event,
    EventError,
    RosterEnrolled,
    RosterExited,
    Timestamp,
    decode_event,
    encode,
)
from engine.partitioned import scope_of
from engine.routing import PERSON_KEY_PREFIX, Route, Router, Tick, named, persons
from engine.store import Store, WriteGroup, person_key, region_index

# What a record the engine cannot take raises (a bug or an unforeseen value);
# the store's own errors are not among them: those are retried, never set aside.
POISON = (msgspec.ValidationError, ValueError, KeyError, TypeError, AttributeError, IndexError)

log = logging.getLogger("lifeline.worker")

EVENTS_TOPIC = "events.by_household"
REJECTS_TOPIC = "rejects"
ALERTS_TOPIC = "alerts"
OPERATOR_TOPIC = "operator.alerts"
TICK_KEY = b"tick"  # on the household topic: the stream's clock moved on (not a record)


class TickMessage(msgspec.Struct, forbid_unknown_fields=True):
    """A tick's value; one that does not match is a dead letter like any bad event."""

    tick: Timestamp


@dataclass(frozen=True)
class Topics:
    """The worker's topic names; a namespace prefixes them all (tests, tenants)."""

    namespace: str = ""

    def department(self, department: str) -> str:
        return f"{self.namespace}{TOPIC_PREFIX}{department}"

    @property
    def department_prefix(self) -> str:
        return f"{self.namespace}{TOPIC_PREFIX}"

    @property
    def events(self) -> str:
        return self.namespace + EVENTS_TOPIC

    @property
    def rejects(self) -> str:
        return self.namespace + REJECTS_TOPIC

    @property
    def alerts(self) -> str:
        return self.namespace + ALERTS_TOPIC

    @property
    def operator(self) -> str:
        return self.namespace + OPERATOR_TOPIC

    def region(self, region: str) -> str:
        return f"{self.namespace}{ALERTS_TOPIC}.{region}"


def position_key(app: str, topic: str, partition: int) -> str:
    """The next offset to read, saved once everything before it is done."""
    return f"pos:{{{app}}}:{topic}:{partition}"


def read_key(app: str, topic: str, partition: int) -> str:
    """The offset after the last department record read (some may still wait to go on)."""
    return position_key(app, topic, partition) + ":read"


def floor_key(app: str, topic: str, partition: int) -> str:
    """The earliest arrival a department partition may still let go (its reader's
    :meth:`ArrivalOrder.floors`), for workers that do not read it."""
    return position_key(app, topic, partition) + ":floor"


@dataclass(frozen=True)
class Message:
    """A consumed message, whatever client consumed it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    # What its decision may reach beyond its partition (:meth:`Pipeline.reach`): None
    # anything, else what later records of these persons read (empty: nothing).
    reach: tuple[str, ...] | None = ()


@dataclass
class Tally:
    """What a step did, for metrics and logs (counts and names only)."""

    records_in: Counter[str] = field(default_factory=Counter)  # by department
    rejects: Counter[str] = field(default_factory=Counter)  # by reason code
    alerts: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # detector, dir, region
    forwarded: int = 0
    engine: Counter[str] = field(default_factory=Counter)


class Pipeline:
    def __init__(
        self,
        app: str,
        config: EngineConfig,
        departments: DepartmentTopics,
        store: Store,
        partitions: int,
        *,
        backfill_until: str | None = None,
        topics: Topics = Topics(),
    ) -> None:
        self.app = app
        self.topics = topics
        self.departments = departments
        self.store = store
        self.partitions = partitions
        self.backfill_until = backfill_until
        self.engines: dict[int, Engine] = {}
        # Partitions whose last step may have stopped half way: their next step
        # reads back every waiting outbox, not only the alerts it raised itself.
        self.unsure: set[int] = set(range(partitions))
        self.order: ArrivalOrder[Event] = ArrivalOrder()  # department records read
        # Each enrolled household's county, from the store's region indexes and the
        # enrolments decided since (:meth:`learn_homes`); what :meth:`reach` reads.
        self.homes: dict[str, str] = {}
        self.use(config)

    # --- config --------------------------------------------------------------------

    def use(self, config: EngineConfig) -> None:
        """Swap in a config: engines made after this use it (restored from the store)."""
        self.config = config
        self.router = Router(config.settings, self.partitions)
        self.engines.clear()

    def engine(self, partition: int) -> Engine:
        if partition not in self.engines:
            self.engines[partition] = self.config.engine(
                self.store,
                self.backfill_until,
                scope=scope_of(partition),
                owns=self.router.owns(partition),
                outbox=True,
            )
        return self.engines[partition]

    def forget(self, partition: int | None = None) -> None:
        """Drop in-memory engine state (after a failure): the next batch restores it."""
        if partition is None:
            self.engines.clear()
            self.unsure.update(range(self.partitions))
        else:
            self.engines.pop(partition, None)
            self.unsure.add(partition)

    # --- step 1: department messages to household partitions ------------------------

    def take(self, messages: Sequence[Message], tally: Tally) -> list[Outgoing]:
        """Read department messages: their dead letters; events wait in :attr:`order`
        until :meth:`release` lets them go in arrival order.

        Touches no store, so it runs once per batch and never again on a retry.
        """
        dead: list[Outgoing] = []
        for message in messages:
            tp = (message.topic, message.partition)
            if message.offset < self.order.next_read.get(tp, 0):
                continue  # read already: fetched twice (a partition fetched again after a stall)
            department = message.topic.removeprefix(self.departments.prefix)
            tally.records_in[department] += 1
            # A rejected row of income is a dead letter and an event (what it still
            # says): both go, the event with the offset held like any other.
            items, rank = self.read(message)
            for item in items:
                if isinstance(item, Reject):
                    tally.rejects[item.reason_code] += 1
                    if not self.order.read_again(tp, message.offset):
                        dead.append(self.reject(item, message))
                    self.order.passed(tp, message.offset)
                else:
                    self.order.hold(tp, message.offset, item.received_at, item, rank)
        return dead

    def release(
        self,
        ends: Mapping[tuple[str, int], int | None],
        until: str | None,
        before: str | None = None,
    ) -> tuple[list[Event], dict[str, bytes]]:
        """Events that may go now (none that arrived after ``until``, or at or
        after ``before``), and what to save once they have gone: each department
        partition's resume point, the offset after its last record read
        (:func:`read_key`) and its floor (:func:`floor_key`).

        ``ends`` is the high watermark of every department partition this
        worker reads (:class:`connectors.arrival_order.ArrivalOrder`).
        """
        events = self.order.release(ends, until, before)
        saved = self.offsets(self.order.resume_points())
        floors = {
            floor_key(self.app, t, p): a.encode() for (t, p), a in self.order.floors().items()
        }
        return events, saved | self.offsets(self.order.next_read, read_key) | floors

    def route(self, events: Sequence[Event]) -> list[Outgoing]:
        """Events to their households' partitions (ticks before them when the clock moves)."""
        names = persons(list(events))
        blobs = self.store.get_many([person_key(p) for p in names])
        indexes = {n: decode_index(b) for n, b in zip(names, blobs, strict=True) if b}
        out: list[Outgoing] = []
        for item in events:
            tick = self.router.tick(item)
            if tick is not None:  # the clock moved on: every partition hears of it
                value = msgspec.json.encode(TickMessage(tick.received_at))
                for partition in range(self.partitions):
                    out.append(Outgoing(self.topics.events, TICK_KEY, value, partition))
            route = self.router.route(item, indexes.get(getattr(item, "person", "")))
            value = encode(item)
            reach = self.reach(item, route)
            for partition in route.partitions:
                out.append(
                    Outgoing(self.topics.events, route.key.encode(), value, partition, reach)
                )
        return out

    def reach(self, event: Event, route: Route) -> tuple[str, ...] | None:
        """What deciding ``event`` may change beyond the partition it goes to: None
        if anything, else the persons whose later records it may change.

        A record of a household another partition owns is forwarded there, and
        so is a roster record of one (and one whose household is not known, or
        that ends it: its members are not named). Any other roster record writes
        the roster facts its persons' later records are resolved by and releases
        records held for them; a record of a person in no household yet is held
        where an enrolment of theirs releases it. What stays put is an
        end-of-batch (each partition keeps its own counties' calendars) and a
        record of a household its partition owns, as the engine resolves it.
        """
        if isinstance(event, BatchEnd):
            return ()
        household = getattr(event, "household", None)
        if household is not None:  # a roster record
            home = self.homes.get(household)
            if home is None and not isinstance(event, RosterEnrolled):
                return None
            if isinstance(event, RosterExited) or self.elsewhere(home, route):
                return None
            return named(event)
        if route.key.startswith(PERSON_KEY_PREFIX):  # (resolved to no household)
            return named(event)
        home = self.homes.get(route.key)
        return None if home is None or self.elsewhere(home, route) else ()

    def elsewhere(self, county: str | None, route: Route) -> bool:
        """Whether a known county is decided on another partition than the route's."""
        return county is not None and (self.router.partition_of(county),) != route.partitions

    def learn_homes(self) -> None:
        """Every enrolled household's county, from the store's region indexes."""
        for region in self.config.settings.regions:
            for household in self.store.index_members(region_index(region.code)):
                self.homes[household] = region.code

    def read(self, message: Message) -> tuple[list[Event | Reject], Rank | None]:
        """A department message's items and place (:meth:`DepartmentTopics.decode_ranked`);
        a connector failure is a dead letter too.

        Whatever a message holds must never stop the worker or block its partition.
        """
        try:
            return self.departments.decode_ranked(
                message.topic, message.partition, message.offset, message.value
            )
        except Exception as exc:  # a bug or an unforeseen value
            where = f"{message.topic}/{message.partition}@{message.offset}"
            log.error("%s: the connector failed (%s); set aside", where, type(exc).__name__)
            reason = f"the connector could not read this record ({type(exc).__name__})"
            department = message.topic.removeprefix(self.departments.prefix)
            bad = self.bad(message, reason, "connector_error")
            return [msgspec.structs.replace(bad, department=department)], None

    def reject(self, reject: Reject, message: Message) -> Outgoing:
        """A dead letter: the reject (reason, masked content) and where it came from."""
        key = f"{message.topic}/{message.partition}@{message.offset}".encode()
        return Outgoing(self.topics.rejects, key, encode(reject))

    # --- step 2: one partition's events through its engine ----------------------------

    def decode(
        self, messages: Sequence[Message], tally: Tally
    ) -> tuple[list[Event | Tick], list[Outgoing]]:
        """Events (and ticks) of the household topic; one that does not decode is a dead letter."""
        events: list[Event | Tick] = []
        dead: list[Outgoing] = []
        for message in messages:
            try:
                if message.key == TICK_KEY:
                    tick = msgspec.json.decode(message.value or b"", type=TickMessage)
                    events.append(Tick(tick.tick))
                    continue
                events.append(decode_event(message.value))
            except (EventError, msgspec.DecodeError, KeyError, TypeError) as exc:
                tally.rejects["bad_event"] += 1
                dead.append(self.reject(self.bad(message, f"not a valid event: {exc}"), message))
        return events, dead

    def bad(self, message: Message, reason: str, code: str = "bad_event") -> Reject:
        return Reject(
            reason_code=code,
            reason=withheld(reason),  # (an error's text can quote what the message held)
            source=f"{message.topic}/{message.partition}",
            position=message.offset,
            content=self.departments.pseudonymiser.mask_id_tokens(
                (message.value or b"")[:2000].decode("utf-8", "replace")
            ),
            received_at=dt.datetime.now(CST).replace(microsecond=0),
        )

    def process(
        self, partition: int, events: Sequence[Event | Tick], tally: Tally, settle: bool = False
    ) -> tuple[StepResult, list[Outgoing]]:
        """The engine's step, and dead letters for records the engine cannot take.

        A batch that fails for a reason other than the store (which the caller
        retries) is run again one record at a time, so that one poison record
        is set aside alone and never blocks its partition.
        """
        try:
            result = self.engine(partition).process(events, settle=settle)
            tally.engine.update(result.counts)
            return result, []
        except POISON as exc:
            log.error("partition %d: a batch failed (%s); running it record by record",
                      partition, type(exc).__name__)  # fmt: skip
        self.forget(partition)
        result, dead = StepResult(), []
        for event in events:
            try:
                result.merge(self.engine(partition).process([event], settle=False))
            except POISON as exc:
                self.forget(partition)
                if isinstance(event, Tick):
                    continue
                tally.rejects["engine_error"] += 1
                log.error("partition %d: record %s set aside (%s)",
                          partition, event.event_id, type(exc).__name__)  # fmt: skip
                reason = f"the engine could not apply this record ({type(exc).__name__})"
                dead.append(Outgoing(self.topics.rejects, event.event_id.encode(),
                                     encode(self.bad_event(event, reason))))  # fmt: skip
        tally.engine.update(result.counts)
        return result, dead

    def bad_event(self, event: Event, reason: str) -> Reject:
        return Reject(
            reason_code="engine_error",
            reason=reason,
            source=self.topics.events,
            position=0,
            department=event.department,
            content=msgspec.json.decode(encode(event)),
            received_at=dt.datetime.fromisoformat(event.received_at),
        )

    def decide(
        self, partition: int, events: Sequence[Event | Tick], tally: Tally, settle: bool = False
    ) -> tuple[list[Outgoing], list[str]]:
        """One partition's step: what to send, and the households whose outboxes it empties.

        After a step that failed half way (Redis gone between two writes), or
        when the partition is new to this pipeline, alerts are read back from
        every waiting outbox of the partition, not only from this step's
        result: the failed step recorded alerts that running it again will not
        raise a second time, and they must still go out.
        """
        result, dead = self.process(partition, events, tally, settle)
        self.homes.update(result.enrolled)
        out = list(dead)
        for forward in result.forward:
            tally.forwarded += 1
            target = self.router.partition_of(forward.region)
            event = encode(forward.event)
            key = forward.household.encode()  # (a forward counts as reaching any partition)
            out.append(Outgoing(self.topics.events, key, event, target, reach=None))
        households = set(result.outbox)
        if partition in self.unsure:
            households |= set(outbox.waiting(self.store, scope_of(partition)))
        waiting = outbox.read(self.store, households)
        self.unsure.discard(partition)
        out += self.publish(waiting, tally)
        for operator in result.operator:
            out.append(Outgoing(self.topics.operator, operator.region.encode(), encode(operator)))
        return out, sorted(waiting)

    def publish(self, waiting: dict[str, list[Alert]], tally: Tally) -> list[Outgoing]:
        out: list[Outgoing] = []
        for household, alerts in sorted(waiting.items()):
            for alert in alerts:
                value = encode(alert)
                out.append(Outgoing(self.topics.alerts, household.encode(), value))
                out.append(Outgoing(self.topics.region(alert.region), household.encode(), value))
                tally.alerts[(alert.detector, alert.direction, alert.region)] += 1
        return out

    def waiting(self, partition: int) -> dict[str, list[Alert]]:
        """Alerts a previous owner recorded but may not have published."""
        return outbox.read(self.store, outbox.waiting(self.store, scope_of(partition)))

    def published(self, cleared: Mapping[int, Sequence[str]], saved: Mapping[str, bytes]) -> None:
        """After the broker has it all: empty the outboxes (households by partition)
        and save the positions (keys and values, :meth:`offsets`), in one go."""
        groups = [
            group
            for partition, households in sorted(cleared.items())
            for group in outbox.clearing(scope_of(partition), households)
        ]
        if saved:
            groups = [*groups, WriteGroup(dict(saved))]
        self.store.write(groups)

    # --- positions ----------------------------------------------------------------------

    def positions(
        self, topics: Sequence[tuple[str, int]], key: Callable[[str, str, int], str] = position_key
    ) -> dict[tuple[str, int], int]:
        """Saved next offsets (``key``: :func:`read_key` for the offsets after the last read)."""
        values = self.store.get_many([key(self.app, t, p) for t, p in topics])
        return {tp: int(v) for tp, v in zip(topics, values, strict=True) if v is not None}

    def floors(self, topics: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """Saved floors of department partitions (:func:`floor_key`)."""
        values = self.store.get_many([floor_key(self.app, t, p) for t, p in topics])
        return {tp: v.decode() for tp, v in zip(topics, values, strict=True) if v is not None}

    def offsets(
        self,
        offsets: Mapping[tuple[str, int], int],
        key: Callable[[str, str, int], str] = position_key,
    ) -> dict[str, bytes]:
        """What :meth:`published` saves for these next offsets."""
        return {key(self.app, t, p): str(o).encode() for (t, p), o in offsets.items()}


def read_up_to(messages: Sequence[Message]) -> dict[tuple[str, int], int]:
    """The offset after the last of ``messages``, per topic partition."""
    latest: dict[tuple[str, int], int] = {}
    for message in messages:
        tp = (message.topic, message.partition)
        latest[tp] = max(latest.get(tp, -1), message.offset + 1)
    return latest


def describe_tally(tally: Tally) -> dict[str, Any]:
    """Counts only: safe for logs."""
    return {
        "records_in": dict(tally.records_in),
        "rejects": dict(tally.rejects),
        "alerts": sum(tally.alerts.values()),
        "forwarded": tally.forwarded,
    }
