"""What the worker asks the broker itself, beside faust's consumer.

faust's consumer runs in its own thread and serves one call at a time, so
asking it waits for its current fetch (up to a second and a half); and it
knows the topics' partition counts only on the group's leader. These two
lookups go through clients of the worker's own, made at first use, with the
same connection settings as faust's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP


class BrokerLookups:
    def __init__(self, client: dict[str, Any], department_topics: frozenset[str]) -> None:
        self.client = client  # aiokafka client arguments (WorkerOptions.offsets_client)
        self.department_topics = department_topics
        self.offsets: AIOKafkaConsumer | None = None  # asks for end offsets
        self.admin: AIOKafkaAdminClient | None = None  # and for the department topics' partitions
        self.counts: dict[str, int] | None = None  # partitions per department topic

    async def ends_of(self, tps: Sequence[TP]) -> dict[TP, int]:
        """The broker's end offsets now."""
        if self.offsets is None:
            client = AIOKafkaConsumer(
                client_id="lifeline-offsets",
                enable_auto_commit=False,
                request_timeout_ms=30_000,
                **self.client,
            )
            await client.start()
            self.offsets = client
        found = await self.offsets.end_offsets(
            [TopicPartition(tp.topic, tp.partition) for tp in tps]
        )
        return {TP(tp.topic, tp.partition): end for tp, end in found.items()}

    async def department_partitions(self) -> list[TP]:
        """Every partition of the department topics, asked once until :meth:`forget_counts`."""
        if self.counts is None:
            if self.admin is None:
                admin = AIOKafkaAdminClient(client_id="lifeline-admin", **self.client)
                await admin.start()
                self.admin = admin
            described = await self.admin.describe_topics(sorted(self.department_topics))
            self.counts = {t["topic"]: len(t["partitions"]) for t in described}
        return [TP(t, p) for t, n in sorted(self.counts.items()) for p in range(n)]

    def forget_counts(self) -> None:
        """Ask for the partition counts again next time (a topic may have been given more)."""
        self.counts = None

    async def close(self) -> None:
        if self.offsets is not None:
            await self.offsets.stop()
            self.offsets = None
        if self.admin is not None:
            await self.admin.close()
            self.admin = None
