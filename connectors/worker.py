"""``lifeline worker``: the faust application around :class:`connectors.pipeline.Pipeline`.

Two agents, one consumer group:

- ``normalise`` reads every ``dept.<department>`` topic in batches, and sends
  events to ``events.by_household`` (keyed by household, one partition per
  county) in arrival order (:mod:`connectors.arrival_order`; before the clock
  moves on, it waits until that topic is decided to its end) and rejects to
  ``rejects``;
- ``decide`` reads ``events.by_household`` in batches, runs each partition's
  share through that partition's engine over Redis, and publishes alerts to
  ``alerts`` and ``alerts.<region>``.

The engine steps run in a process of their own (:mod:`connectors.engine_process`),
the normaliser's Redis calls in one thread of the worker's, in order, so the
event loop stays free for Kafka's heartbeats. When Redis cannot be reached the
agent keeps its batch, retries with backoff and takes nothing new until it
has applied it; positions (next offsets, in Redis) move only after a batch's
effects are stored and acknowledged, and a partition newly assigned to this
worker starts from its saved position, whatever the consumer committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import faust
import redis
from faust.types import TP, EventT

from connectors.arrival_order import held_back_by
from connectors.broker_lookups import BrokerLookups
from connectors.dropped_fetches import watch_dropped_fetches
from connectors.engine_process import (
    RETRIED,
    EngineProcess,
    child_decide,
    child_forget,
    child_ready,
)
from connectors.household_topic import HouseholdTopic
from connectors.pipeline import (
    Message,
    Outgoing,
    Tally,
    describe_tally,
    read_key,
    read_up_to,
)
from connectors.worker_ops import ConfigWatcher, Metrics, log_config
from connectors.worker_options import STORE_ERRORS, WorkerOptions, build_pipeline
from detectors.catalog import EngineConfig, load_engine_config
from engine.identity import Pseudonymiser

log = logging.getLogger("lifeline.worker")
T = TypeVar("T")

MAX_BACKOFF = 15.0
HEALTH_PING_SECONDS = 2.0
RELEASE_EVERY = 0.05  # seconds between looks at held records when nothing wakes them
# Messages sent on and not decided yet beyond which one normalise step routes no
# further arrival time (on a backlog, routing ahead of the decide step cost a
# sixth of the rate; live, a few records per arrival time go at once).
RUN_AHEAD = 200
QUIET_PARTITION = 15.0  # seconds a partition with records to read may bring none before a re-fetch


class Worker:
    """The pieces one worker process holds; built by :func:`build_app`."""

    def __init__(
        self, options: WorkerOptions, config: EngineConfig, pseudonymiser: Pseudonymiser
    ) -> None:
        self.options = options
        self.store = options.redis_store()
        self.pipeline = build_pipeline(options, config, pseudonymiser, self.store)
        self.topics = self.pipeline.topics
        self.engine = EngineProcess(options, config, pseudonymiser)
        self.metrics = Metrics(config.version)
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="lifeline-normalise")
        self.owned: set[TP] = set()
        self.deciding = asyncio.Lock()  # one decide step at a time: outboxes are cleared whole
        self.reading = asyncio.Lock()  # one normalise step at a time: held records go once
        self.paused: set[TP] = set()  # department partitions not fetched while far ahead
        self.routed = True  # records sent on since the household topic was last all decided
        self.decided = asyncio.Event()  # set when this worker has decided a batch
        self.saved_positions: dict[str, bytes] = {}  # of department partitions, last saved
        self.household = HouseholdTopic()  # what it sent there, what it decided
        self.positioned = asyncio.Event()  # set once an assignment's resume points are known
        self.last_seen: dict[TP, float] = {}  # when a message of each partition last came
        self.stepped = time.monotonic()  # when a call off the event loop last ended
        self.last_input = time.monotonic()
        self.unsettled: set[int] = set()  # partitions with records since they last settled
        self.store_ok = True
        self.watcher = ConfigWatcher(options.config_dir)
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.app: faust.App = faust.App(
            options.app_id,
            datadir=str(options.data_dir / f"{options.app_id}-data"),
            broker=[f"kafka://{b}" for b in options.bootstrap.split(",")],
            value_serializer="raw",
            key_serializer="raw",
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=options.session_timeout,
            broker_heartbeat_interval=max(1.0, options.session_timeout / 5),
            broker_rebalance_timeout=max(10.0, options.session_timeout * 2),
            stream_buffer_maxsize=4 * options.batch_size,
            stream_ack_exceptions=False,
            stream_ack_cancelled_tasks=False,
            producer_acks=-1,
            producer_linger=0.0,
            producer_max_batch_size=512 * 1024,
            producer_compression_type="gzip",
            web_enabled=True,
            web_port=options.web_port,
            web_bind="127.0.0.1",
            topic_allow_declare=True,
            **dict(options.broker_settings),
        )
        departments = options.departments or tuple(
            sorted(self.pipeline.departments.catalog.mappings)
        )
        self.department_names = frozenset(self.topics.department(d) for d in departments)
        self.broker = BrokerLookups(options.offsets_client(), self.department_names)
        self.department_topic = self.app.topic(*sorted(self.department_names))
        self.events_topic = self.app.topic(self.topics.events)
        self.app.agent(self.department_topic, name="normalise")(self.normalise_agent)
        self.app.agent(self.events_topic, name="decide")(self.decide_agent)
        self.app.on_partitions_assigned.connect(self.on_assigned)
        self.app.on_partitions_revoked.connect(self.on_revoked)
        self.app.on_before_shutdown.connect(self.close_broker_lookups)
        self.app.page("/health")(self.health_page)
        self.app.page("/metrics")(self.metrics_page)
        self.app.timer(options.reload_every)(self.reload)
        self.app.timer(5.0)(self.measure_lag)
        self.app.timer(1.0)(self.settle_when_idle)
        self.app.task(self.release_held)
        self.app.task(self.start_engine)

    # --- running things off the loop, with retries ----------------------------------

    async def in_thread(self, what: str, call: Callable[[], T]) -> T:
        """Run a store-touching call in the worker's own thread until it succeeds."""
        loop = asyncio.get_running_loop()
        return await self.until_done(what, lambda: loop.run_in_executor(self.thread, call))

    async def in_engine(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the engine process until it succeeds."""
        return await self.until_done(what, lambda: self.engine.call(fn, *args))

    async def until_done(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Await ``attempt()`` again, with backoff, while Redis cannot be reached (or
        the engine process died: it is replaced)."""
        delay = 0.5
        while True:
            started = time.perf_counter()
            try:
                value = await attempt()
            except RETRIED as exc:
                self.stepped = time.monotonic()
                if isinstance(exc, BrokenProcessPool):  # (logged where it is replaced)
                    log.warning("%s: again in %.1f s in a new engine process", what, delay)
                else:
                    self.store_ok = False
                    self.metrics.store_errors.inc()
                    log.warning(
                        "redis unavailable during %s (%s); holding the batch, retrying in %.1f s",
                        what,
                        type(exc).__name__,
                        delay,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self.stepped = time.monotonic()
            if not self.store_ok:
                log.info("redis answers again; resuming")
            self.store_ok = True
            self.metrics.step_seconds.labels(what.split()[0]).observe(time.perf_counter() - started)
            return value

    async def start_engine(self) -> None:
        """Start the engine process now rather than at the first batch (its imports
        take a second or two)."""
        pid = await self.in_engine("start", child_ready)
        log.info("engine process %d started", pid)

    async def close_broker_lookups(self, app: faust.App, **_: Any) -> None:
        await self.broker.close()

    async def send(self, outgoing: Sequence[Outgoing]) -> None:
        """Send and wait until the broker has every message (again, whole, on failure)."""
        if not outgoing:
            return
        delay = 0.5
        started = time.perf_counter()
        while True:
            try:
                futures = [
                    await self.app.producer.send(o.topic, o.key, o.value, o.partition, None, None)
                    for o in outgoing
                ]
                clock = self.pipeline.router.clock
                for o, sent in zip(outgoing, await asyncio.gather(*futures), strict=True):
                    if sent.topic == self.topics.events:
                        self.household.sent(sent.partition, sent.offset, o.reach, clock)
                self.metrics.step_seconds.labels("send").observe(time.perf_counter() - started)
                return
            except Exception as exc:
                self.metrics.send_errors.inc()
                log.warning("sending %d messages failed (%s); again in %.1f s",
                            len(outgoing), type(exc).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    # --- the agents -----------------------------------------------------------------

    async def normalise_agent(self, stream: faust.StreamT[bytes]) -> None:
        async for batch in stream.take_events(self.options.batch_size, self.options.batch_within):
            await self.normalise(self.seen(batch))

    async def normalise(self, messages: list[Message]) -> None:
        """Department messages to the household topic, in arrival order across partitions.

        Never waits for the decide step: a stream that stopped taking messages
        would stop faust's consumer for the decide agent too. What may not go
        yet waits in the arrival order, and :meth:`release_held` sends it on.
        """
        async with self.reading:
            started = time.perf_counter()
            tally = Tally()
            if messages:  # (none when release_held only lets held records go)
                self.last_input = time.monotonic()
                take = functools.partial(self.pipeline.take, messages, tally)
                await self.send(await self.in_thread("normalise", take))
            ends = await self.input_ends()
            until = await self.route_until()
            events, positions = self.pipeline.release(ends, until, self.waits_from(until))
            while events:
                route = functools.partial(self.pipeline.route, events)
                outgoing = await self.in_thread("route", route)
                await self.send(outgoing)
                self.routed = True
                if not self.household.alone or self.household.undecided() > RUN_AHEAD:
                    break  # (the broker answers, or the decide step is behind: next batch)
                # Alone, the next arrival time may follow at once if nothing sent
                # can reach another partition before it is decided.
                until = await self.route_until()
                events, positions = self.pipeline.release(ends, until, self.waits_from(until))
            # Only the positions that moved: a batch of a few records moves one or two
            # of the dozens of department partitions' keys.
            moved = {k: v for k, v in positions.items() if self.saved_positions.get(k) != v}
            if moved:
                await self.in_thread("positions", lambda: self.pipeline.published({}, moved))
                self.saved_positions.update(moved)
            self.hold_back()
            self.metrics.count(tally)
            self.metrics.batch_seconds.labels("normalise").observe(time.perf_counter() - started)
            log.debug("normalised a batch: %s", describe_tally(tally))

    async def route_until(self) -> str:
        """The latest arrival time that may go on to the household topic now.

        The clock moves to the next arrival time only once every partition of
        the household topic is decided to its end, as in one engine over the
        whole stream: what the last arrival caused (records forwarded to the
        county they concern, roster facts that route the next records) is all
        in. Every worker's positions are in Redis, so this holds across workers.
        """
        clock = self.pipeline.router.clock
        upcoming = self.pipeline.order.next_arrival()
        if upcoming is None or upcoming <= clock:
            return clock
        # Not alone, another worker may have routed records since, and may still
        # hold earlier ones: always ask.
        if (self.routed or not self.household.alone) and not await self.household_topic_decided(
            upcoming
        ):
            return clock
        self.routed = False
        return upcoming

    def waits_from(self, until: str) -> str | None:
        """The first arrival time by ``until`` that must wait (see HouseholdTopic)."""
        return self.household.first_to_wait(self.pipeline.order, until)

    async def input_ends(self) -> dict[tuple[str, int], int | None]:
        """The high watermark of every department partition this worker reads.

        Known from the fetches; asked of the broker for a partition not fetched yet.
        """
        consumer = self.app.consumer
        ends: dict[tuple[str, int], int | None] = {}
        for tp in self.owned:
            if tp.topic in self.department_names:
                try:
                    ends[(tp.topic, tp.partition)] = consumer.highwater(tp)
                except Exception:  # (not assigned any more, or not fetched yet)
                    ends[(tp.topic, tp.partition)] = None
        unknown = [TP(t, p) for (t, p), end in ends.items() if end is None]
        if unknown:
            try:
                asked = await self.broker.ends_of(unknown)
            except Exception as exc:
                log.warning("could not ask the broker for %d partitions' ends (%s)",
                            len(unknown), type(exc).__name__)  # fmt: skip
            else:
                ends.update({(tp.topic, tp.partition): end for tp, end in asked.items()})
        return ends

    async def household_topic_decided(self, upcoming: str) -> bool:
        """Whether the household topic is decided far enough for the clock to move on
        to ``upcoming``, and no other worker may still send an earlier record.

        Decided to its end, as far as anything decided may reach another
        partition. When this worker holds every partition it reads, its own
        sends and decisions answer (:class:`HouseholdTopic`). Otherwise what it
        sent and has not decided answers no at once, and Redis and the broker
        answer the rest: every worker's saved positions on the household topic,
        and the floors of the department partitions other workers read
        (:func:`connectors.arrival_order.held_back_by`). Without the floors, a
        worker whose partitions were ahead moved the household partitions'
        clocks on while another still held records of an earlier arrival time
        (an end of batch among them), and months were decided after records
        they should not have seen.
        """
        local = self.household.decided_locally()
        if local is not None:
            self.metrics.clock_checks.labels("worker").inc()
            return local
        tps = [TP(self.topics.events, p) for p in range(self.options.partitions)]
        if self.household.behind(tp.partition for tp in tps if tp in self.owned):
            return False
        try:
            others = (
                []
                if self.household.alone
                else [
                    tp for tp in await self.broker.department_partitions() if tp not in self.owned
                ]
            )
        except Exception as exc:  # (a look: "not yet")
            log.warning("could not ask the broker for the department topics' partitions (%s)",
                        type(exc).__name__)  # fmt: skip
            return False
        self.metrics.clock_checks.labels("broker").inc()
        households = [(tp.topic, tp.partition) for tp in tps]
        departments = [(tp.topic, tp.partition) for tp in others]
        # A look, not a step: off the worker's thread, and a failure only means "not yet".
        # Positions and floors before ends: a saved position implies what it
        # forwarded is on the topic, so the ends read afterwards count it.
        try:
            loop = asyncio.get_running_loop()
            saved, floors = await loop.run_in_executor(
                None,
                lambda: (
                    self.pipeline.positions(households + departments),
                    self.pipeline.floors(departments),
                ),
            )
        except STORE_ERRORS:
            return False
        ends = {
            (tp.topic, tp.partition): n
            for tp, n in (await self.broker.ends_of(tps + others)).items()
        }
        self.household.broker_ends({p: ends[(t, p)] for t, p in households})
        if any(saved.get(tp, 0) < ends[tp] for tp in households):
            return False
        waiting = held_back_by(upcoming, floors, saved, {tp: ends[tp] for tp in departments})
        if waiting:
            log.debug("the clock waits for %d department partitions other workers read",
                      len(waiting))  # fmt: skip
        return not waiting

    def hold_back(self) -> None:
        """Stop fetching the department partitions that are far ahead of the others
        (:meth:`ArrivalOrder.far_ahead`); fetch again those that are not any more."""
        order = self.pipeline.order
        self.metrics.held.set(len(order))
        ahead = {TP(t, p) for t, p in order.far_ahead(self.options.batch_size)}
        ahead &= self.owned  # (a paused partition this worker does not hold is never resumed)
        consumer = self.app.consumer
        if ahead - self.paused:
            consumer.pause_partitions(ahead - self.paused)
        if self.paused - ahead:
            consumer.resume_partitions(self.paused - ahead)
        self.paused = ahead

    async def release_held(self) -> None:
        """Send held records on when no new message comes to do it: once the
        household topic is decided (the clock may move on), or once the
        partitions they waited for have moved on."""
        order = self.pipeline.order
        while True:
            # Woken when this worker has decided a batch; otherwise it looks again
            # after a while (other workers' partitions, partitions read to their end).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.decided.wait(), RELEASE_EVERY)
            self.decided.clear()
            await self.fetch_quiet_partitions()
            upcoming = order.next_arrival()
            if upcoming is None or self.reading.locked():
                continue
            if not order.ready(await self.input_ends()):
                continue  # waiting for another department partition to be read further
            if upcoming > await self.route_until():
                continue  # waiting for the household topic to be decided
            await self.normalise([])

    async def fetch_quiet_partitions(self) -> None:
        """Fetch again, from the worker's own position, a partition that has brought
        nothing for a while though it has records left, while the worker was idle.

        A safety net: after rebalances in quick succession the consumer stopped
        delivering a partition, having fetched and dropped its next records;
        :meth:`refetch_dropped` now fetches those again at once. Anything else that
        stops a partition, seen or not, is caught here.
        """
        now = time.monotonic()
        quiet = [
            tp
            for tp in self.owned - self.paused
            if now - max(self.last_seen.setdefault(tp, now), self.stepped) > QUIET_PARTITION
        ]
        if not quiet or self.reading.locked() or self.deciding.locked():
            return
        points = self.resume_points()
        try:
            ends = await self.broker.ends_of([tp for tp in quiet if tp in points])
        except Exception:
            return  # (the broker does not answer now: the next look asks again)
        stuck = {tp: points[tp] for tp, end in ends.items() if end > points[tp]}
        for tp in stuck:
            self.last_seen[tp] = now
        if not stuck:
            return
        names = ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(stuck))
        log.warning("%d partitions brought nothing for %.0f s though they have records left; "
                    "fetching them again from the worker's positions: %s",
                    len(stuck), QUIET_PARTITION, names)  # fmt: skip
        self.app.consumer.resume_partitions(set(stuck))
        # In the consumer's own thread: a seek from this one races its fetcher.
        await self.app.consumer.seek_wait(stuck)

    def seen(self, batch: Sequence[EventT]) -> list[Message]:
        """A batch's messages of partitions this worker holds, noted as seen; a batch
        taken before a rebalance may hold others, which their new owner reads again."""
        now = time.monotonic()
        kept = []
        for event in batch:
            m = event.message
            if m.tp in self.owned:
                self.last_seen[m.tp] = now
                kept.append(Message(m.topic, m.partition, m.offset, m.key, m.value))
        return kept

    async def decide_agent(self, stream: faust.StreamT[bytes]) -> None:
        async for batch in stream.take_events(self.options.batch_size, self.options.batch_within):
            await self.decide(self.seen(batch))

    async def decide(self, messages: list[Message]) -> None:
        if not messages:
            return
        self.last_input = time.monotonic()
        started = time.perf_counter()
        shares: dict[int, list[Message]] = {}
        for message in messages:
            shares.setdefault(message.partition, []).append(message)
        async with self.deciding:
            await self.decide_partitions(shares)
        self.unsettled.update(shares)
        self.metrics.batch_seconds.labels("decide").observe(time.perf_counter() - started)

    async def settle_when_idle(self) -> None:
        """Decide what is due now once nothing has come in for a while.

        Otherwise a month whose end-of-batch was the last record before a
        quiet night would wait for the next morning's first record.
        """
        after = self.options.settle_after
        if not after or time.monotonic() - self.last_input < after:
            return
        if not self.unsettled:
            return
        async with self.deciding:
            await self.decide_partitions({p: [] for p in self.unsettled}, settle=True)
        self.unsettled.clear()

    async def decide_partitions(
        self, shares: dict[int, list[Message]], settle: bool = False
    ) -> None:
        """A batch's partitions, each through its engine and outbox in turn (one
        call on the engine process), then one send of all they caused, then one
        write that empties their outboxes and saves their positions."""
        rows = [
            (p, [(m.offset, m.key, m.value) for m in share]) for p, share in sorted(shares.items())
        ]
        decided = await self.in_engine("engine", child_decide, self.topics.events, rows, settle)
        self.pipeline.homes.update(decided.enrolled)
        tally, outgoing, cleared = decided.tally, decided.messages(), decided.cleared
        await self.send(outgoing)
        done = read_up_to([m for share in shares.values() for m in share])
        await self.in_thread(
            "positions", lambda: self.pipeline.published(cleared, self.pipeline.offsets(done))
        )
        self.household.decided({p: offset for (_, p), offset in done.items()})
        self.decided.set()
        self.metrics.count(tally)

    # --- rebalancing ----------------------------------------------------------------

    async def on_assigned(self, app: faust.App, assigned: set[TP], **_: Any) -> None:
        new = {tp for tp in assigned if tp not in self.owned}
        self.owned = set(assigned)
        self.broker.forget_counts()
        self.household.assigned(self.holds_every_partition(app))
        if self.household.alone:
            await self.in_thread("homes", self.pipeline.learn_homes)
        ours = sorted((tp.topic, tp.partition) for tp in new)
        saved = await self.in_thread("positions", lambda: self.pipeline.positions(ours))
        read = await self.in_thread("positions", lambda: self.pipeline.positions(ours, read_key))
        # A partition with no saved position is read from its beginning (nothing
        # of it was done), and the arrival order must know where that is.
        fresh = [TP(t, p) for t, p in ours if (t, p) not in saved]
        starts = dict(saved)
        if fresh:
            earliest = await app.consumer.earliest_offsets(*fresh)
            starts |= {(tp.topic, tp.partition): offset for tp, offset in earliest.items()}
        for (topic, partition), offset in sorted(starts.items()):
            if topic in self.department_names:
                self.pipeline.order.start((topic, partition), offset, read.get((topic, partition)))
            else:
                self.household.decided({partition: offset})
        self.positioned.set()
        await self.seek_to_resume_points(new)
        log.info("assigned %d partitions (%d new, %d resumed from saved positions)",
                 len(assigned), len(new), len(saved))  # fmt: skip
        for tp in sorted(new):
            if tp.topic == self.topics.events:
                async with self.deciding:
                    await self.drain_outbox(tp.partition)
        self.metrics.assigned.set(len(assigned))

    def holds_every_partition(self, app: faust.App) -> bool:
        """Whether this worker holds every partition of the topics it reads (by the
        group's metadata): then no other worker writes to the household topic."""
        for topic in (*self.department_names, self.topics.events):
            count = app.consumer.topic_partitions(topic)
            if count is None or count != sum(1 for tp in self.owned if tp.topic == topic):
                return False
        return True

    async def on_revoked(self, app: faust.App, revoked: set[TP], **_: Any) -> None:
        self.positioned.clear()
        self.household.revoked(tp.partition for tp in revoked if tp.topic == self.topics.events)
        self.saved_positions.clear()  # (another worker may save them now: all again next time)
        self.owned -= set(revoked)
        self.paused -= set(revoked)
        for tp in revoked:
            self.last_seen.pop(tp, None)
            if tp.topic == self.topics.events:
                self.engine.send(child_forget, tp.partition)  # (its engine, in memory)
            elif tp.topic in self.department_names:  # what it held is read again by its new owner
                self.pipeline.order.forget((tp.topic, tp.partition))

    def resume_points(self) -> dict[TP, int]:
        """The next offset each agent needs, per partition this worker holds: the
        normaliser's next read, the decide step's next message."""
        read = {TP(t, p): offset for (t, p), offset in self.pipeline.order.next_read.items()}
        events = self.topics.events
        decided = {TP(events, p): offset for p, offset in self.household.decided_to.items()}
        return {tp: o for tp, o in (read | decided).items() if tp in self.owned}

    async def seek_to_resume_points(self, tps: set[TP] | None = None) -> None:
        """Where the consumer goes on from: the worker's own positions (all of
        them, or those of ``tps``)."""
        consumer = self.app.consumer
        for tp, offset in sorted(self.resume_points().items()):
            if tps is None or tp in tps:
                await consumer.seek(tp, offset)

    def own_the_seeks(self) -> None:
        """Make faust's consumer go on from the worker's positions after a rebalance.

        When a rebalance is over, faust seeks every assigned partition to the
        group's committed offsets (``Consumer.perform_seek``), and again if it
        fetches while its flow is stopped. Those offsets are what faust's streams
        acknowledged: records held in the arrival order count as done there, and
        so do messages the streams skipped during the rebalance. Going on from
        them lost those records, and the worker waited for them for ever. The
        committed offsets mean nothing to the worker (its positions are in
        Redis), so faust's seek goes to the worker's own.
        """
        self.app.consumer.perform_seek = self.seek_after_rebalance  # type: ignore[method-assign]
        watch_dropped_fetches(self.app.consumer, self.refetch_dropped)

    async def seek_after_rebalance(self) -> None:
        # faust's recovery may get here before on_assigned has read the positions.
        try:
            await asyncio.wait_for(self.positioned.wait(), self.options.session_timeout)
        except TimeoutError:
            log.warning("seeking before this assignment's saved positions were read")
        await self.seek_to_resume_points()

    async def refetch_dropped(self, dropped: dict[TP, int]) -> None:
        """Fetch again what faust's consumer fetched and dropped during a rebalance
        (connectors/dropped_fetches.py): from the first record dropped, or from the
        worker's own position if that is earlier (what comes twice is recognised)."""
        points = self.resume_points()
        again = {tp: min(o, points.get(tp, o)) for tp, o in dropped.items() if tp in self.owned}
        if not again:
            return
        log.info("the consumer dropped fetched records of %d partitions in a rebalance; "
                 "fetching them again", len(again))  # fmt: skip
        try:
            await self.app.consumer.seek_wait(again)
        except Exception as exc:  # (revoked meanwhile: the next assignment seeks anyway)
            log.info("could not fetch them again now (%s)", type(exc).__name__)

    async def drain_outbox(self, partition: int) -> None:
        """Publish what a previous owner recorded and may not have published."""
        waiting = await self.in_thread("outbox", lambda: self.pipeline.waiting(partition))
        if not waiting:
            return
        tally = Tally()
        await self.send(self.pipeline.publish(waiting, tally))
        await self.in_thread(
            "outbox", lambda: self.pipeline.published({partition: sorted(waiting)}, {})
        )
        log.info("partition %d: published %d waiting alerts from its outbox",
                 partition, sum(tally.alerts.values()))  # fmt: skip

    # --- operation -------------------------------------------------------------------

    async def reload(self) -> None:
        """Swap in a changed detector config between batches (atomic: all or nothing)."""
        changed = self.watcher.changed()
        if not changed:
            return
        try:
            config = await asyncio.get_running_loop().run_in_executor(
                None, load_engine_config, self.options.config_dir
            )
        except Exception as exc:
            self.metrics.reloads.labels("rejected").inc()
            log.error("config change rejected, keeping %s: %s", self.pipeline.config.version, exc)
            return
        if config.version == self.pipeline.config.version:
            return
        # In the worker's thread and in turn on the engine process: between two batches.
        await asyncio.get_running_loop().run_in_executor(self.thread, self.pipeline.use, config)
        self.engine.use(config)  # (in turn: after the step it may be taking)
        self.metrics.use(config.version)
        self.metrics.reloads.labels("applied").inc()
        log.info("config %s in use (was changed on disk: %s)", config.version, ", ".join(changed))

    async def measure_lag(self) -> None:
        consumer = self.app.consumer
        for tp in list(self.owned):
            try:
                high = consumer.highwater(tp)
                position = await consumer.position(tp)
            except Exception:
                continue
            if high is not None and position is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))

    async def redis_answers(self) -> bool:
        """One PING for /health: not retried, not on the worker's thread, not waited on long."""
        loop = asyncio.get_running_loop()
        try:
            ping = loop.run_in_executor(None, self.store.client.ping)
            return bool(await asyncio.wait_for(ping, HEALTH_PING_SECONDS))
        except (redis.RedisError, OSError):  # (a TimeoutError is an OSError)
            return False

    async def health_page(self, request: Any) -> Any:
        # A held batch keeps the worker degraded until its own retry succeeds (and
        # logs that Redis answers again); an idle worker learns of an outage by the PING.
        ok = self.store_ok and await self.redis_answers()
        body = {
            "status": "ok" if ok else "degraded",
            "redis": "ok" if ok else "unreachable",
            "config_version": self.pipeline.config.version,
            "partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in self.owned),
        }
        return self.app.web.json(body, status=200 if ok else 503)

    async def metrics_page(self, request: Any) -> Any:
        payload, content_type = self.metrics.exposition()
        return self.app.web.bytes(payload, content_type=content_type)


def build(options: WorkerOptions, pseudonymiser: Pseudonymiser) -> Worker:
    return Worker(options, load_engine_config(options.config_dir), pseudonymiser)


def runner(worker: Worker, loglevel: str = "info") -> faust.Worker:
    """faust's worker around ours: its signals, logging and event loop."""
    faust_worker = faust.Worker(
        worker.app,
        loglevel=loglevel,
        logging_config=log_config(loglevel),
        override_logging=True,
        quiet=True,
    )
    # faust's worker shows a terminal spinner at levels of warning and above, and
    # for it sets the root logger to DEBUG: every debug call of aiokafka, faust and
    # mode then made a record for the handlers to drop (a tenth of the consumer
    # thread's time under load). Without the spinner the root logger stays at
    # ``loglevel``.
    faust_worker.spinner = None
    return faust_worker


def run(options: WorkerOptions, pseudonymiser: Pseudonymiser, loglevel: str = "info") -> None:
    """Run until SIGTERM or Ctrl-C (faust's worker handles both and stops cleanly)."""
    worker = build(options, pseudonymiser)
    faust_worker = runner(worker, loglevel)
    worker.own_the_seeks()  # (the consumer is made here, on the loop faust.Worker set up)
    faust_worker.execute_from_commandline()
