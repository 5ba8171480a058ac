"""What one worker knows of the household topic: what it sent there and what it decided.

The normaliser may move the clock to the next arrival time only once the
household topic (``events.by_household``) is decided far enough
(:meth:`connectors.worker.Worker.household_topic_decided`). Redis (every
worker's saved positions) and the broker (the topic's ends) always answer
that. A worker that holds every partition of the topics it reads is their
only writer, though, so once it has the broker's ends after an assignment,
its own acknowledged sends and its own decisions answer without a round
trip: the clock waits only for what was sent and may reach another
partition when decided (:meth:`connectors.pipeline.Pipeline.reach`), and a
later record of a person waits for an earlier one that may change how it is
routed. :class:`HouseholdTopic` keeps those offsets; it touches neither Kafka
nor Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connectors.arrival_order import ArrivalOrder
from engine.events import Event
from engine.routing import named


class HouseholdTopic:
    """Offsets of one worker on the household topic, by partition number."""

    def __init__(self) -> None:
        self.decided_to: dict[int, int] = {}  # next offset to decide, per partition held
        self.sent_to: dict[int, int] = {}  # the end of what this worker sent, per partition
        # Of those, the end of what may reach any other partition when decided
        # (Pipeline.reach None): alone, only these hold the clock back.
        self.crossing_to: dict[int, int] = {}
        # Persons whose sent records may change their later ones: partition, end, arrival.
        self.naming: dict[str, tuple[int, int, str]] = {}
        self.alone = False  # this worker holds every partition of its input topics
        self.ends_known = False  # the broker's ends were read since the assignment

    # --- assignment -------------------------------------------------------------

    def assigned(self, alone: bool) -> None:
        """A new assignment (the new partitions' next offsets follow, :meth:`decided`).
        Until the broker's ends are read, all that was sent holds the clock."""
        self.alone = alone
        self.ends_known = False  # (another worker may have written meanwhile)
        self.naming.clear()

    def revoked(self, partitions: Iterable[int]) -> None:
        self.alone = self.ends_known = False
        for partition in partitions:
            self.decided_to.pop(partition, None)

    # --- what happened ----------------------------------------------------------

    def sent(self, partition: int, offset: int, reach: tuple[str, ...] | None, clock: str) -> None:
        """The broker acknowledged a message at ``offset``, routed at arrival ``clock``."""
        end = max(self.sent_to.get(partition, 0), offset + 1)
        self.sent_to[partition] = end
        if reach is None:
            self.crossing_to[partition] = end
        for person in reach or ():
            self.naming[person] = (partition, end, clock)

    def decided(self, done: Mapping[int, int]) -> None:
        """Next offsets to decide: after a decide step, or where an assignment starts."""
        self.decided_to.update(done)

    def broker_ends(self, ends: Mapping[int, int]) -> None:
        """The topic's ends as the broker gave them: alone, what others wrote before
        counts as sent, and as crossing; from now on this worker's sends keep them."""
        if not self.alone:
            return
        for partition, end in ends.items():
            for known in (self.sent_to, self.crossing_to):
                known[partition] = max(known.get(partition, 0), end)
        self.ends_known = True

    # --- questions --------------------------------------------------------------

    def decided_locally(self) -> bool | None:
        """Alone with the ends known: whether everything sent that may reach another
        partition is decided. None when Redis and the broker must answer."""
        if not (self.alone and self.ends_known):
            return None
        return all(self.decided_to.get(p, 0) >= end for p, end in self.crossing_to.items())

    def behind(self, held: Iterable[int]) -> bool:
        """Whether a partition of ``held`` (those this worker holds now: a decide step
        that ended after a rebalance may have noted others) has messages this worker
        sent and has not decided."""
        return any(self.decided_to.get(p, 0) < self.sent_to.get(p, 0) for p in held)

    def undecided(self) -> int:
        """Messages this worker sent and has not decided yet."""
        return sum(max(0, end - self.decided_to.get(p, 0)) for p, end in self.sent_to.items())

    def first_to_wait(self, order: ArrivalOrder[Event], until: str) -> str | None:
        """The earliest arrival time held (by ``until``) with a record of a person whose
        earlier record, sent and not decided yet, may change it (alone only: else
        Redis and the broker answer for the whole topic)."""
        if not self.alone:
            self.naming.clear()
            return None
        self.naming = {
            person: (partition, end, arrival)
            for person, (partition, end, arrival) in self.naming.items()
            if self.decided_to.get(partition, 0) < end
        }
        if not self.naming:
            return None
        first: str | None = None
        for arrival, record in order.waiting(until):
            for person in named(record):
                if person in self.naming and arrival > self.naming[person][2]:
                    first = arrival if first is None else min(first, arrival)
        return first
