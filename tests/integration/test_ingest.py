"""lifeline ingest: department files onto their topics, line by line, nothing lost."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer

from connectors.kafka_ingest import ingest_files, producer
from connectors.mapping import Catalog
from engine.events import CST

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "departments"
FILES = ["hukou_20260301.csv", "setl_202604.csv", "si_contrib_202603.csv"]


def test_every_line_lands_on_its_department_topic(
    kafka_bootstrap: str,
    kafka_admin,
    new_topic: Callable[..., str],  # type: ignore[no-untyped-def]
) -> None:
    prefix = new_topic("ingest-probe").replace("ingest-probe", "dept") + "."
    departments = ["public_security", "medical_insurance", "human_resources"]
    kafka_admin.create_topics({f"{prefix}{d}": {"num_partitions": 3, "replication_factor": 1} for d in departments},
                              timeout_ms=15_000)  # fmt: skip
    kafka_admin.wait_for_topics([f"{prefix}{d}" for d in departments], timeout_ms=15_000)
    catalog = Catalog.load(ROOT / "config" / "connectors")
    send = producer(kafka_bootstrap)
    try:
        count = ingest_files([SAMPLES / f for f in FILES], catalog, send,
                             dt.datetime(2026, 5, 1, 9, tzinfo=CST), topic_prefix=prefix)  # fmt: skip
    finally:
        send.close()
    expected = {}
    for name, department in zip(FILES, departments, strict=True):
        lines = [ln for ln in (SAMPLES / name).read_bytes().splitlines() if ln.strip()]
        expected[f"{prefix}{department}"] = len(lines) - 1  # the header is not a record
    assert dict(count.sent) == expected

    consumer = KafkaConsumer(*expected, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             group_id=f"{prefix}reader", consumer_timeout_ms=2000)  # fmt: skip
    got: dict[str, list] = {t: [] for t in expected}  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    while sum(map(len, got.values())) < sum(expected.values()) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                got[record.topic].append(record)
    consumer.close()
    assert {t: len(r) for t, r in got.items()} == expected
    # One person's lines stay on one partition, in file order; keys carry no ID number.
    for records in got.values():
        by_key: dict[bytes, list[tuple[int, int]]] = {}
        for record in records:
            message = orjson.loads(record.value)
            assert record.key is not None and len(record.key) == 24
            by_key.setdefault(record.key, []).append((record.partition, message["line"]))
        for placed in by_key.values():
            assert len({p for p, _ in placed}) == 1
            assert [line for _, line in placed] == sorted(line for _, line in placed)
    hukou = [orjson.loads(r.value) for r in got[f"{prefix}public_security"]]
    assert all(m["file"] == FILES[0] and m["layout"] == "changes" and "row" in m for m in hukou)
    kafka_admin.delete_topics(list(expected), timeout_ms=15_000)
