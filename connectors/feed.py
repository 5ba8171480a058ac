"""Department files onto the worker's topics in arrival order, and what came out.

A paced replay for tests and benchmarks of the running worker: the files of
one arrival time are sent (as ``lifeline ingest`` sends them), then the
feeder waits until the worker's saved positions reach the end of every topic
it reads before sending the next, as the departments' deliveries would
arrive over time. It remembers when it sent each record, so alerts read
back from the alert topic give record-to-alert latencies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import msgspec
from kafka import KafkaConsumer, TopicPartition

from connectors.files import Reject, ingest_file
from connectors.kafka_ingest import producer, send_file
from connectors.mapping import Catalog
from connectors.pipeline import Topics, position_key
from connectors.replay import Delivery
from engine.alert import Alert, parse_alert
from engine.identity import Pseudonymiser
from engine.store import Store


@dataclass(frozen=True)
class Received:
    """A message read back from an output topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


def client_settings(kafka: Mapping[str, Any] | None) -> dict[str, Any]:
    """kafka-python settings (e.g. ``KafkaConnection.kafka_python_kwargs()``: security
    protocol, SASL, TLS) without the broker addresses, which the caller gives."""
    return {k: v for k, v in (kafka or {}).items() if k != "bootstrap_servers"}


def arrivals(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    """Deliveries grouped by arrival time, in order: what arrived together is sent together."""
    ordered = sorted(deliveries)  # (within an arrival time, as the worker orders their lines)
    return [list(g) for _, g in groupby(ordered, key=lambda d: d.received_at)]


@dataclass
class Feeder:
    bootstrap: str
    topics: Topics
    catalog: Catalog
    pseudonymiser: Pseudonymiser
    departments: Sequence[str]
    sent_at: dict[str, float] = field(default_factory=dict)  # event id -> when it was sent
    lines: int = 0
    # kafka-python settings for its producer and consumer, e.g.
    # KafkaConnection.kafka_python_kwargs() (their bootstrap_servers is ignored:
    # ``bootstrap`` says where); None: plaintext, as before.
    kafka: Mapping[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        settings = client_settings(self.kafka)
        self.producer = producer(self.bootstrap, **settings)
        self.consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, **settings)

    def close(self) -> None:
        self.producer.close()
        self.consumer.close()

    def send(self, deliveries: Iterable[Delivery]) -> int:
        """Send the files and wait until the broker has every line; returns the lines sent."""
        sent = 0
        for delivery in deliveries:
            result = send_file(
                delivery.path,
                self.catalog,
                self.producer,
                delivery.received_at,
                topic_prefix=self.topics.department_prefix,
            )
            now = time.time()
            for item in ingest_file(
                delivery.path, self.catalog, self.pseudonymiser, received_at=delivery.received_at
            ):
                if not isinstance(item, Reject):
                    self.sent_at.setdefault(item.event_id, now)
            sent += result.sent
        self.producer.flush()
        self.lines += sent
        return sent

    # --- waiting for the worker ----------------------------------------------------------

    def partitions(self) -> list[TopicPartition]:
        names = [self.topics.department(d) for d in self.departments] + [self.topics.events]
        return [
            TopicPartition(name, p)
            for name in names
            for p in sorted(self.consumer.partitions_for_topic(name) or ())
        ]

    def behind(self, store: Store, app: str) -> int:
        """Messages the worker has not finished (by its saved positions).

        The saved positions are read before the ends: a saved position implies
        that what it caused is already on its topic, so ends read afterwards
        count those messages too. Read the other way round, a record forwarded
        between the two reads was counted neither as sent nor as unfinished,
        and a wait could end with it still in flight.
        """
        tps = self.partitions()
        saved = store.get_many([position_key(app, tp.topic, tp.partition) for tp in tps])
        ends = self.consumer.end_offsets(tps)
        return sum(
            max(0, ends[tp] - (int(s) if s is not None else 0))
            for tp, s in zip(tps, saved, strict=True)
        )

    def wait(
        self,
        store: Store,
        app: str,
        timeout: float,
        alive: Callable[[], bool] = lambda: True,
    ) -> float:
        """Until the worker has caught up; returns the seconds waited."""
        started = time.monotonic()
        calm = 0
        while calm < 1:  # (a saved position implies everything it caused is on its topic)
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"the worker is still {self.behind(store, app)} messages behind "
                    f"after {timeout:.0f} s"
                )
            if not alive():
                raise RuntimeError("the worker stopped")
            calm = calm + 1 if self.behind(store, app) == 0 else 0
            time.sleep(0.005)
        return time.monotonic() - started


def read_topic(
    bootstrap: str, topic: str, kafka: Mapping[str, Any] | None = None
) -> list[Received]:
    """Every message of a topic, from the beginning to its current end (``kafka``:
    kafka-python settings, as :class:`Feeder` takes them)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_settings(kafka)
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Received] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                out += [
                    Received(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                    for r in records
                ]
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"could not read {topic} to its end")
        return out
    finally:
        consumer.close()


def alerts_of(messages: Iterable[Received]) -> list[tuple[Received, Alert]]:
    return [(m, parse_alert(msgspec.json.decode(m.value))) for m in messages]


def latencies(alerts: Iterable[tuple[Received, Alert]], sent_at: dict[str, float]) -> list[float]:
    """Seconds from sending an alert's latest evidence record to the alert on its topic.

    An alert raised when a month is decided counts from its latest evidence
    record too, which may have been sent several deliveries before.
    """
    found = []
    for message, alert in alerts:
        times = [sent_at[r.event_id] for r in alert.evidence.records if r.event_id in sent_at]
        if times:
            found.append(max(0.0, message.timestamp_ms / 1000 - max(times)))
    return found


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
