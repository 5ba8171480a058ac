"""Department files onto their Kafka input topics, in the department's raw layout.

`lifeline ingest` reads each file with the same readers the file path uses and
sends every line, as received, to ``dept.<department>``: a JSON object with the
file, line, layout, arrival time and the raw row (or, for a line that could not
be read, its problem and text). Input topics are the one place raw ID numbers
exist after the departments' own files; the worker normalises, validates and
pseudonymises them through the same mappings.

Messages are keyed by a hash of the row's ID number (never the number itself),
so one person's records stay on one partition in file order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from connectors.convert import lookup
from connectors.mapping import Catalog, Layout, MappingError
from connectors.readers import LineProblem, read_rows

TOPIC_PREFIX = "dept."


def producer(bootstrap: str, **settings: Any) -> KafkaProducer:
    """An idempotent, batching, compressing producer (retries never duplicate a record)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        compression_type="gzip",
        linger_ms=20,
        batch_size=256 * 1024,
        **settings,
    )


def _id_columns(layout: Layout) -> list[str]:
    specs = [
        *layout.fields.values(),
        *(f for k in layout.kinds.values() for f in k.fields.values()),
    ]
    return [spec.column for spec in specs if spec.type == "id_number"]


def message_key(row: dict[str, Any] | None, layout: Layout, file_name: str) -> bytes:
    """A hash of the row's ID number (its person), or of the file when it has none."""
    for column in _id_columns(layout):
        value = lookup(row, column) if row is not None else None
        if isinstance(value, str) and value.strip():
            return (
                hashlib.blake2b(value.strip().upper().encode(), digest_size=12).hexdigest().encode()
            )
    return hashlib.blake2b(file_name.encode(), digest_size=12).hexdigest().encode()


@dataclass
class IngestCount:
    files: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # by topic
    unreadable: int = 0
    no_layout: list[str] = field(default_factory=list)


def line_messages(
    path: Path, catalog: Catalog, received_at: dt.datetime, department: str | None = None
) -> Iterator[tuple[str, bytes, bytes, bool]]:
    """(department, key, value, unreadable) of every line; MappingError if no layout reads it."""
    dept, layout = catalog.layout_for(path.name, department)
    for line, row in read_rows(path, layout):
        message: dict[str, Any] = {
            "v": 1,
            "file": path.name,
            "line": line,
            "layout": layout.name,
            "received_at": received_at.isoformat(),
        }
        if isinstance(row, LineProblem):
            message["problem"] = {"code": row.code, "message": row.message}
            message["text"] = row.text
            yield dept, message_key(None, layout, path.name), orjson.dumps(message), True
        else:
            message["row"] = row
            yield dept, message_key(row, layout, path.name), orjson.dumps(message), False


def ingest_files(
    paths: Iterable[Path],
    catalog: Catalog,
    send: KafkaProducer,
    received_at: dt.datetime,
    department: str | None = None,
    topic_prefix: str = TOPIC_PREFIX,
) -> IngestCount:
    """Send every line of every file to its department's topic; flush at the end."""
    count = IngestCount()
    for path in paths:
        try:
            messages = list(line_messages(path, catalog, received_at, department))
        except MappingError:
            count.no_layout.append(path.name)
            continue
        count.files += 1
        for dept, key, value, unreadable in messages:
            topic = f"{topic_prefix}{dept}"
            send.send(topic, key=key, value=value)
            count.sent[topic] += 1
            count.unreadable += unreadable
    send.flush(timeout=60)
    return count
