"""Department records in arrival order, whatever order the consumer hands them over.

The engine's clock is the latest arrival time it has seen: a month is decided
once the clock has passed its deadline. Live, records come in as they arrive
and the clock is right. Reading a backlog (after an outage, or a first start on
full topics) the consumer fetches a chunk of each input partition in turn, so
a department with few records hands over next year's while a busy one is
still in January; applied as read, the clock would run a year ahead and
months would be decided before their records are in.

:class:`ArrivalOrder` holds what was read and lets a record go only when no
input partition can still bring an earlier one. Each partition's records are
in arrival order (the ingester stamps a file's arrival time when it sends
the file), so a partition that still has records to read can bring nothing
earlier than the latest it has handed over. Records are released up to the
earliest of those (the *watermark*); a partition that has been read to its
end holds nothing back, since what it gets next arrives after everything
already read. Rejects are let through at once: they never move the clock.

Records of one arrival time go together, in one canonical order: end-of-batch
files after the data they close, then by file name and line (:func:`file_rank`),
as a replay of the same files applies them (:func:`connectors.replay.plan_deliveries`).
So an arrival time goes only once no partition can bring more of it, and the
engine sees the same records in the same order, alert revisions included,
whichever partitions the lines were spread over.

Nothing here is lost on a restart: a partition's resume point is its first
record still held, so what was held is read again. Records after it that had
gone on are read again too: events are applied once whatever, and the caller
saves :attr:`ArrivalOrder.next_read` beside the resume point so that a
reject, which went on when it was read, is not sent twice.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
TopicPartition = tuple[str, int]
Rank = tuple[int, str, int]  # (end of batch, file name, line) within an arrival time
END = "\uffff"  # the watermark when every partition has been read to its end

EOB_PREFIX = "eob_"  # an end-of-batch file's name (the simulator's and the departments')


def file_rank(name: str) -> tuple[int, str]:
    """Where a file's records go among one arrival time's: end-of-batch files
    after the data they close, then by name."""
    return (1 if name.startswith(EOB_PREFIX) else 0, name)


@dataclass(order=True)
class _Held(Generic[T]):
    arrival: str
    rank: Rank | tuple[()]
    topic: str
    partition: int
    offset: int
    item: T = field(compare=False)


class ArrivalOrder(Generic[T]):
    """Records of several input partitions, released in arrival order."""

    def __init__(self) -> None:
        self._held: list[_Held[T]] = []  # a heap, earliest arrival first
        self.latest: dict[TopicPartition, str] = {}  # latest arrival read, per partition
        self.next_read: dict[TopicPartition, int] = {}  # the offset after the last read
        self.read_before: dict[TopicPartition, int] = {}  # read by a previous reader
        # Per partition, the offsets held with their arrival times (a heap) and the
        # offsets released but not yet off its top: the first held offset in
        # O(log n), whatever order they go in.
        self._offsets: dict[TopicPartition, list[tuple[int, str]]] = {}
        self._gone: dict[TopicPartition, set[int]] = {}

    def start(self, tp: TopicPartition, offset: int, read_before: int | None = None) -> None:
        """Reading ``tp`` begins at ``offset`` (a partition newly assigned);
        ``read_before``: a previous reader had read everything before it."""
        self.next_read[tp] = offset
        self.read_before[tp] = max(offset, read_before or 0)

    def read_again(self, tp: TopicPartition, offset: int) -> bool:
        """Whether a previous reader read this record already (it sent a reject on at once)."""
        return offset < self.read_before.get(tp, 0)

    def forget(self, tp: TopicPartition) -> None:
        """``tp`` went to another reader: what it held will be read there again."""
        self._held = [h for h in self._held if (h.topic, h.partition) != tp]
        heapq.heapify(self._held)
        for table in (self.latest, self.next_read, self.read_before, self._offsets, self._gone):
            table.pop(tp, None)

    def passed(self, tp: TopicPartition, offset: int) -> None:
        """A record read that does not wait (a reject: it has no say on the clock)."""
        self.next_read[tp] = max(self.next_read.get(tp, 0), offset + 1)

    def hold(
        self, tp: TopicPartition, offset: int, arrival: str, item: T, rank: Rank | None = None
    ) -> None:
        """A record read, to go when no partition can bring one of an earlier or the
        same arrival time; ``rank``: its place among that arrival time's records."""
        self.passed(tp, offset)
        if arrival > self.latest.get(tp, ""):
            self.latest[tp] = arrival
        heapq.heappush(self._held, _Held(arrival, rank or (), tp[0], tp[1], offset, item))
        heapq.heappush(self._offsets.setdefault(tp, []), (offset, arrival))

    def behind(self, ends: Mapping[TopicPartition, int | None]) -> list[TopicPartition]:
        """The partitions with records still to read (an unknown end counts as behind)."""
        return [tp for tp, end in ends.items() if end is None or end > self.next_read.get(tp, 0)]

    def watermark(self, ends: Mapping[TopicPartition, int | None]) -> str | None:
        """The latest arrival every partition still being read has passed.

        ``None`` when one of them has handed over nothing yet (nothing may go);
        :data:`END` when every partition has been read to its end (all may go).
        Records that arrived before it may go, and those of its own arrival
        time once it is :data:`END` (:func:`goes`).
        """
        behind = self.behind(ends)
        if any(tp not in self.latest for tp in behind):
            return None
        return min((self.latest[tp] for tp in behind), default=END)

    def release(
        self,
        ends: Mapping[TopicPartition, int | None],
        until: str | None = None,
        before: str | None = None,
    ) -> list[T]:
        """What may go now: whole arrival times, each in its canonical order
        (then partition and offset).

        ``ends`` maps every input partition this reader owns to the offset
        after its last record (its high watermark), or None when not known yet;
        nothing that arrived after ``until``, or at or after ``before``, goes
        (the caller's own limits).
        """
        mark = self.watermark(ends)
        out: list[T] = []
        if mark is None:
            return out
        while (
            self._held
            and goes(self._held[0].arrival, mark)
            and (until is None or self._held[0].arrival <= until)
            and (before is None or self._held[0].arrival < before)
        ):
            held = heapq.heappop(self._held)
            out.append(held.item)
            tp = (held.topic, held.partition)
            offsets, gone = self._offsets[tp], self._gone.setdefault(tp, set())
            gone.add(held.offset)
            while offsets and offsets[0][0] in gone:
                gone.discard(heapq.heappop(offsets)[0])
        return out

    def waiting(self, until: str) -> list[tuple[str, T]]:
        """(arrival, record) of every record held that arrived by ``until``, in no order.

        Walks the heap from its top and stops under any record that arrived
        later (its children did too): the cost is what it returns, not all held.
        """
        out: list[tuple[str, T]] = []
        look = [0] if self._held else []
        while look:
            i = look.pop()
            held = self._held[i]
            if held.arrival <= until:
                out.append((held.arrival, held.item))
                look += [c for c in (2 * i + 1, 2 * i + 2) if c < len(self._held)]
        return out

    def next_arrival(self) -> str | None:
        """The earliest arrival time held."""
        return self._held[0].arrival if self._held else None

    def ready(self, ends: Mapping[TopicPartition, int | None]) -> bool:
        """Whether the earliest arrival time held may go now, as far as the partitions
        still being read are concerned (:meth:`release` without the caller's limits)."""
        first, mark = self.next_arrival(), self.watermark(ends)
        return first is not None and mark is not None and goes(first, mark)

    def held(self) -> dict[TopicPartition, int]:
        """How many records each partition has waiting."""
        counts = {tp: len(o) - len(self._gone.get(tp, ())) for tp, o in self._offsets.items()}
        return {tp: n for tp, n in counts.items() if n}

    def far_ahead(self, limit: int) -> set[TopicPartition]:
        """The partitions whose reading may stop for now: those holding at least
        ``limit`` records that have read past the earliest arrival time held.

        One still inside that arrival time must be read on: the arrival time goes
        only once no partition can bring more of it, so stopping that partition
        would stop every record for good (a delivery bigger than ``limit`` lines
        on one partition did, before this).
        """
        first = self.next_arrival()
        if first is None:
            return set()
        return {tp for tp, n in self.held().items() if n >= limit and self.latest[tp] > first}

    def __len__(self) -> int:
        return len(self._held)

    def resume_points(self) -> dict[TopicPartition, int]:
        """Where a reader starting afresh must begin, per partition: its first record held,
        or else the offset after the last read."""
        points = dict(self.next_read)
        for tp, offsets in self._offsets.items():
            if offsets:
                points[tp] = offsets[0][0]
        return points

    def floors(self) -> dict[TopicPartition, str]:
        """Per partition read from, the earliest arrival it may still let go.

        That is its first record held, or, with none held, the latest it has
        read (what it reads next arrived no earlier). A reader that does not
        hold a partition waits for it when its floor is earlier than the
        arrival time it would route next (see :func:`held_back_by`).
        """
        floors = dict(self.latest)
        for tp, offsets in self._offsets.items():
            if offsets:
                floors[tp] = offsets[0][1]
        return floors


def goes(arrival: str, mark: str) -> bool:
    """Whether records of ``arrival`` may go under the watermark ``mark``: a
    partition still being read may bring more of the mark's own arrival time."""
    return arrival < mark or mark == END


def held_back_by(
    upcoming: str,
    floors: Mapping[TopicPartition, str],
    positions: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> list[TopicPartition]:
    """The partitions other readers hold that may still bring a record earlier than
    ``upcoming`` (empty: it may go).

    For each of them, ``floors`` and ``positions`` are what its reader saved
    (:meth:`ArrivalOrder.floors`, its resume point) and ``ends`` its end on the
    broker, read after them. A partition whose resume point has reached its end
    has nothing to bring; one with records left holds ``upcoming`` back unless
    its floor is at least ``upcoming`` (records of the same arrival time go
    together). A partition never read has no floor and holds everything back.
    """
    return [
        tp
        for tp, end in sorted(ends.items())
        if positions.get(tp, 0) < end and floors.get(tp, "") < upcoming
    ]
