"""Records a consumer fetched and dropped are fetched again (connectors/dropped_fetches.py).

The consumer here stands in for faust's: its ``getmany`` takes a batch through
``self._wait_next_records`` and hands its records over one by one, stopping
early when its flow stops, as faust-streaming's does in a rebalance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from connectors.dropped_fetches import watch_dropped_fetches


@dataclass
class Record:
    offset: int


class Consumer:
    def __init__(self, batches: list[dict[str, list[Record]]], cuts: list[int | None]) -> None:
        self.batches = batches
        self.cuts = cuts  # per batch: records handed over before the flow stops (None: all)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        return self.batches.pop(0), None

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[str, Record]]:
        records, _ = await self._wait_next_records(timeout)
        cut, handed = self.cuts.pop(0), 0
        for tp, batch in records.items():
            for record in batch:
                if cut is not None and handed >= cut:
                    return  # the flow stopped: the rest is dropped
                handed += 1
                yield tp, record


def drain(consumer: Consumer) -> tuple[list[tuple[str, int]], list[dict[Any, int]]]:
    """What fetching every batch hands over, and every refetch asked for."""
    handed: list[tuple[str, int]] = []
    asked: list[dict[Any, int]] = []

    async def refetch(dropped: dict[Any, int]) -> None:
        asked.append(dropped)

    async def run() -> None:
        watch_dropped_fetches(consumer, refetch)
        while consumer.batches:
            async for tp, record in consumer.getmany(timeout=1.0):
                handed.append((tp, record.offset))

    asyncio.run(run())
    return handed, asked


def batch(**offsets: range) -> dict[str, list[Record]]:
    return {tp: [Record(o) for o in span] for tp, span in offsets.items()}


def test_batches_handed_over_whole_ask_for_nothing() -> None:
    two = [batch(a=range(0, 3), b=range(5, 7)), batch(a=range(3, 4))]
    handed, asked = drain(Consumer(two, [None, None]))
    assert len(handed) == 6
    assert asked == []


def test_a_batch_cut_short_asks_for_each_partition_from_its_first_record_dropped() -> None:
    cut = [batch(a=range(10, 14), b=range(50, 53), c=range(7, 8))]
    handed, asked = drain(Consumer(cut, [2]))
    assert handed == [("a", 10), ("a", 11)]
    assert asked == [{"a": 12, "b": 50, "c": 7}]


def test_each_batch_is_judged_on_its_own() -> None:
    batches = [batch(a=range(0, 2)), batch(a=range(2, 5), b=range(0, 1)), batch(b=range(1, 3))]
    handed, asked = drain(Consumer(batches, [None, 1, None]))
    assert handed == [("a", 0), ("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert asked == [{"a": 3, "b": 0}]
