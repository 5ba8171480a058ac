"""Round trips through the real broker with the two Kafka clients Lifeline uses.

kafka-python (sync; connectors, tools) and aiokafka (under faust-streaming) must
agree on keys, partitioning, compression, headers and group offsets: a record
written by one is read by the other in production.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import kafka.codec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord as AIORecord
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.integration

# gzip is the only codec both clients support with what is installed: lz4
# needs the `lz4` package, zstd `zstandard`, snappy `cramjam`/`python-snappy`
# (none is a dependency), and a producer asked for a missing codec fails.
CODEC = "gzip"
WAIT_S = 30  # upper bound for any one wait on the broker: nothing hangs forever


def drain_sync(consumer: KafkaConsumer, expected: int) -> list:
    records = []
    deadline = time.monotonic() + WAIT_S
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


async def drain_async(consumer: AIOKafkaConsumer, expected: int) -> list[AIORecord]:
    records: list[AIORecord] = []
    deadline = time.monotonic() + WAIT_S
    while len(records) < expected and time.monotonic() < deadline:
        for batch in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
            records.extend(batch)
    return records


def run(coro, timeout: float = 3 * WAIT_S):
    """Run an async scenario with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_kafka_python_idempotent_producer_keyed_round_trip(
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    new_topic: Callable[..., str],
    group_id: str,
) -> None:
    assert kafka.codec.has_gzip()
    topic = new_topic("kp-keyed", partitions=3)
    keys = [f"H{i:04d}" for i in range(24)]
    per_key = 25

    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        compression_type=CODEC,
        linger_ms=5,
        request_timeout_ms=10_000,
        max_block_ms=10_000,
    )
    try:
        # Interleave keys so that per-key order is not just send order per batch.
        # (Bytes in and out: serializers are a kafka-python API in flux.)
        sent = [
            (
                key,
                seq,
                producer.send(
                    topic, key=key.encode(), value=json.dumps({"key": key, "seq": seq}).encode()
                ),
            )
            for seq in range(per_key)
            for key in keys
        ]
        producer.flush(timeout=WAIT_S)
        partition_of: dict[str, int] = {}
        for key, _seq, future in sent:
            metadata = future.get(timeout=WAIT_S)
            # The default partitioner hashes the key: one key, one partition.
            assert partition_of.setdefault(key, metadata.partition) == metadata.partition
    finally:
        producer.close(timeout=10)
    assert set(partition_of.values()) == {0, 1, 2}, "24 keys should spread over 3 partitions"

    # The broker keeps per-partition state for idempotent producers: one
    # producer id, and a sequence number that counted every record exactly once.
    per_partition = Counter(partition_of[key] for key, _seq, _f in sent)
    states = kafka_admin.describe_producers([TopicPartition(topic, p) for p in range(3)])
    for tp, state in states.items():
        assert len(state.active_producers) == 1, tp
        (active,) = state.active_producers
        assert active.producer_id >= 0
        assert active.last_sequence == per_partition[tp.partition] - 1, tp

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=20_000,
    )
    try:
        records = [
            (r.partition, r.key.decode(), json.loads(r.value))
            for r in drain_sync(consumer, len(sent))
        ]
        assignment = consumer.assignment()
    finally:
        consumer.close()

    assert {tp.partition for tp in assignment} == {0, 1, 2}
    assert len(records) == len(sent), f"read {len(records)} of {len(sent)} records"
    got = Counter((key, value["seq"]) for _p, key, value in records)
    assert got == Counter((key, seq) for key, seq, _f in sent), "lost or duplicated records"
    seqs_by_key: dict[str, list[int]] = defaultdict(list)
    for partition, key, value in records:
        assert value["key"] == key
        assert partition == partition_of[key]
        seqs_by_key[key].append(value["seq"])
    for key, seqs in seqs_by_key.items():
        assert seqs == list(range(per_key)), f"order broken for key {key}"


def test_aiokafka_round_trip_and_group_resumes_after_commit(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic("aio", partitions=2)
    first = [f"first-{i}".encode() for i in range(200)]
    second = [f"second-{i}".encode() for i in range(50)]

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,  # commit explicitly, as the engine does
            request_timeout_ms=20_000,
        )

    async def produce(producer: AIOKafkaProducer, values: list[bytes]) -> None:
        # Do not await each send: queue them all, then wait for the acks.
        futures = [
            await producer.send(topic, key=b"k%d" % (i % 7), value=v) for i, v in enumerate(values)
        ]
        await asyncio.gather(*futures)

    async def scenario() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap,
            enable_idempotence=True,
            compression_type=CODEC,
            linger_ms=5,
            request_timeout_ms=10_000,
        )
        await producer.start()
        try:
            await produce(producer, first)

            c1 = consumer()
            await c1.start()
            try:
                got = await drain_async(c1, len(first))
                assert sorted(r.value for r in got) == sorted(first)
                await c1.commit()
                committed = {tp: await c1.committed(tp) for tp in c1.assignment()}
                # Idempotent but not transactional: no control records, so the
                # committed offsets add up to exactly what was read.
                assert sum(committed.values()) == len(first)
            finally:
                await c1.stop()

            await produce(producer, second)
        finally:
            await producer.stop()

        c2 = consumer()
        await c2.start()
        try:
            got2 = await drain_async(c2, len(second))
            assert sorted(r.value for r in got2) == sorted(second), "did not resume at the commit"
            # Nothing else is waiting: in particular none of the first batch.
            leftover = await c2.getmany(timeout_ms=1_000)
            assert not any(leftover.values())
        finally:
            await c2.stop()

    run(scenario())


def test_produced_by_kafka_python_consumed_by_aiokafka(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic("cross", partitions=2)
    records = [
        (f"H{i % 5:04d}".encode(), json.dumps({"n": i, "text": "é" * (i % 3)}).encode())
        for i in range(100)
    ]
    headers = [("source", b"kafka-python"), ("schema", b"test.v1")]

    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        compression_type=CODEC,
        linger_ms=5,
        request_timeout_ms=10_000,
        max_block_ms=10_000,
    )
    try:
        futures = [producer.send(topic, key=k, value=v, headers=headers) for k, v in records]
        producer.flush(timeout=WAIT_S)
        partition_of = {}
        for (key, _v), future in zip(records, futures, strict=True):
            partition_of.setdefault(key, future.get(timeout=WAIT_S).partition)
    finally:
        producer.close(timeout=10)

    async def consume() -> list[AIORecord]:
        c = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            request_timeout_ms=20_000,
        )
        await c.start()
        try:
            return await drain_async(c, len(records))
        finally:
            await c.stop()

    got = run(consume())
    assert len(got) == len(records)
    assert Counter((r.key, r.value) for r in got) == Counter(records)
    for r in got:
        assert list(r.headers) == headers
        # Both clients hash keys the same way (murmur2): aiokafka finds each key
        # in the partition kafka-python chose.
        assert r.partition == partition_of[r.key]
    # Per-key order survives the change of client.
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in got:
        by_key[r.key].append(json.loads(r.value)["n"])
    for key, ns in by_key.items():
        assert ns == sorted(ns), f"order broken for key {key!r}"
