"""Records that faust's consumer fetched and then dropped, fetched again.

faust's consumer takes a batch of records out of aiokafka (which moves its
position past them) and hands them to the streams one at a time. When a
rebalance begins while it does, it stops and drops the rest of the batch
(``Consumer.getmany``: the flow stopped, or the generation changed). faust
counts on seeking every partition back to its committed offsets after the
rebalance. But that seek can come before the batch is dropped (rebalances a
second apart): then nothing seeks back, aiokafka goes on from after the
dropped records, and a partition whose next records were among them never
brings them. The worker waited for them for ever (seen as a partition that
"brought nothing" with records left: ``Worker.fetch_quiet_partitions``).

:func:`watch_dropped_fetches` wraps one consumer's ``getmany``: when a batch
ends with records it fetched but never handed over, it calls back with the
first such offset per partition, before the consumer fetches again, so the
caller can seek back. This reaches into two of faust's methods
(``getmany`` and ``_wait_next_records`` of faust-streaming 0.15.3, pinned in
constraints.txt); tests/test_dropped_fetches.py shows what it expects of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

Refetch = Callable[[dict[Any, int]], Awaitable[None]]


def watch_dropped_fetches(consumer: Any, refetch: Refetch) -> None:
    """Call ``refetch({partition: first offset dropped})`` when ``consumer``
    drops fetched records without handing them to a stream."""
    fetched: dict[Any, tuple[int, int]] = {}  # this batch's first and last offset, per partition
    wait_next_records = consumer._wait_next_records
    getmany = consumer.getmany

    async def next_records(timeout: float) -> Any:
        records, active = await wait_next_records(timeout)
        fetched.clear()
        for tp, batch in (records or {}).items():
            if batch:
                fetched[tp] = (batch[0].offset, batch[-1].offset)
        return records, active

    async def handed_over(timeout: float) -> AsyncIterator[Any]:
        fetched.clear()
        last: dict[Any, int] = {}
        async for tp, message in getmany(timeout):
            last[tp] = message.offset
            yield tp, message
        dropped = {
            tp: last.get(tp, first - 1) + 1
            for tp, (first, final) in fetched.items()
            if last.get(tp, first - 1) < final
        }
        if dropped:
            await refetch(dropped)  # (before the next fetch: the caller's loop waits for it)

    consumer._wait_next_records = next_records
    consumer.getmany = handed_over
