"""Sample department files, normalised by the connectors, cross the real broker intact.

The path the daemon will take: kafka-python produces contract events (as
`lifeline ingest` will), aiokafka (as faust does) consumes and decodes them
with the typed parser; keys keep each household's or person's records on one
partition in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer

from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog
from engine.events import CST, Event, decode_event, encode
from engine.identity import Pseudonymiser

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = Pseudonymiser("it", b"integration-test-key-0123")


def sample_events() -> tuple[list[Event], list[Reject]]:
    catalog = Catalog.load(ROOT / "config" / "connectors")
    received = dt.datetime(2026, 5, 1, 8, 0, tzinfo=CST)
    events: list[Event] = []
    rejects: list[Reject] = []
    for path in sorted((ROOT / "samples" / "departments").iterdir()):
        for item in ingest_file(path, catalog, KEY, received_at=received):
            (rejects if isinstance(item, Reject) else events).append(item)
    return events, rejects


def partition_key(event: Event) -> bytes:
    return str(
        getattr(event, "person", None) or getattr(event, "household", None) or event.region
    ).encode()


def test_sample_events_round_trip_through_kafka(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    events, rejects = sample_events()
    assert len(events) > 200 and rejects
    topic = new_topic("events", partitions=4)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=True,
        compression_type="gzip",
        linger_ms=5,
    )
    for event in events:
        producer.send(topic, key=partition_key(event), value=encode(event))
    producer.flush(timeout=30)
    producer.close()

    async def consume() -> list[tuple[bytes, int, Event]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group_id,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        got: list[tuple[bytes, int, Event]] = []
        deadline = time.monotonic() + 30
        try:
            while len(got) < len(events) and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend((r.key, r.partition, decode_event(r.value)) for r in batch)
        finally:
            await consumer.stop()
        return got

    received = asyncio.run(asyncio.wait_for(consume(), 60))
    assert sorted(e.event_id + e.fingerprint for _, _, e in received) == sorted(
        e.event_id + e.fingerprint for e in events
    )
    # Decoded events equal the originals, field for field.
    assert sorted(encode(e) for _, _, e in received) == sorted(encode(e) for e in events)
    # One key, one partition, and the key's records in the order they were sent.
    partitions: dict[bytes, set[int]] = {}
    for key, partition, _ in received:
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())
    for key in partitions:
        sent = [e for e in events if partition_key(e) == key]
        got = [e for k, _, e in received if k == key]
        assert got == sent


def test_rejects_keep_in_redis_with_their_reason(redis_url: str) -> None:
    """Rejects are data: stored and read back whole, with no raw ID number in them."""
    _, rejects = sample_events()
    client = redis.Redis.from_url(redis_url)
    key = f"test:rejects:{time.monotonic_ns()}"
    try:
        client.rpush(key, *(encode(r) for r in rejects))
        stored = client.lrange(key, 0, -1)
        assert stored == [encode(r) for r in rejects]
        assert all(b"reason_code" in blob for blob in stored)
    finally:
        client.delete(key)
