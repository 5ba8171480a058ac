"""The worker's partitions, in one process: for replays and tests.

:class:`Partitioned` routes each batch as the worker's router does
(:mod:`engine.routing`), gives every partition's engine its share, and sends
forwarded records on to their owners until none is left. A replay through it
decides exactly what the same records decide through the worker's partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

from engine import events as ev
from engine.directory import decode_index
from engine.engine import Engine, StepResult
from engine.routing import Owns, Router, Tick, persons
from engine.store import Store, person_key

MakeEngine = Callable[[str, Owns], Engine]  # (scope, owns) -> engine


def scope_of(partition: int) -> str:
    return f"p{partition}"


class Partitioned:
    def __init__(self, router: Router, store: Store, make: MakeEngine) -> None:
        self.router = router
        self.store = store
        self.engines = [make(scope_of(p), router.owns(p)) for p in range(router.partitions)]

    def route(self, batch: Sequence[ev.Event]) -> list[list[ev.Event | Tick]]:
        """Each partition's share of the batch, in batch order, with the clock's ticks."""
        names = persons(list(batch))
        blobs = self.store.get_many([person_key(p) for p in names])
        indexes = {n: decode_index(b) for n, b in zip(names, blobs, strict=True) if b}
        shares: list[list[ev.Event | Tick]] = [[] for _ in self.engines]
        for event in batch:
            tick = self.router.tick(event)
            if tick is not None:
                for share in shares:
                    share.append(tick)
            route = self.router.route(event, indexes.get(getattr(event, "person", "")))
            for partition in route.partitions:
                shares[partition].append(event)
        return shares

    def process(self, batch: Sequence[ev.Event], *, settle: bool = True) -> StepResult:
        """The batch, one arrival time after another, each with its forwards, as it
        arrives at a worker's partitions; then, with ``settle``, every partition
        decides what is due (as an idle worker does)."""
        combined = StepResult()
        for _, together in groupby(batch, key=lambda e: e.received_at):
            self.deliver(self.route(list(together)), combined)
        if settle:
            for engine in self.engines:
                combined.merge(engine.process([], settle=True))
        return combined

    def deliver(self, shares: list[list[ev.Event | Tick]], combined: StepResult) -> None:
        rounds = 0
        while any(shares):
            rounds += 1
            if rounds > len(self.engines) + 1:  # a forward goes straight to its owner
                raise RuntimeError("records still forwarded after every partition had them")
            forwarded: list[list[ev.Event | Tick]] = [[] for _ in self.engines]
            for partition, share in enumerate(shares):
                if share:
                    result = self.engines[partition].process(share, settle=False)
                    for forward in result.forward:
                        forwarded[self.router.partition_of(forward.region)].append(forward.event)
                    result.forward = []
                    combined.merge(result)
            shares = forwarded
