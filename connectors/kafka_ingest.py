"""Department files onto their Kafka input topics, in the department's raw layout.

`lifeline ingest` reads each file with the same readers the file path uses and
sends every line, as received, to ``dept.<department>``: a JSON object with the
file, line, layout, arrival time and the raw row (or, for a line that could not
be read, its problem and text, and the whole fields a cut-off line still has).
Input topics are the one place raw ID numbers exist after the departments' own
files; the worker normalises, validates and pseudonymises them through the
same mappings.

Messages are keyed by a hash of the row's ID number (never the number itself),
so one person's records stay on one partition in file order.

:func:`send_file` sends one file; :func:`ingest_files` (``lifeline ingest
FILES``) and the drop folder (``lifeline ingest --watch``, drop_folder.py,
which also waits for every acknowledgement through :class:`Acks`) both use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

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


@dataclass
class FileSent:
    """What one file put on its department's topic (sends made, not yet acknowledged)."""

    file: str
    department: str
    layout: str
    topic: str
    sent: int = 0
    problems: Counter[str] = field(default_factory=Counter)  # unreadable lines by problem code
    # (line, problem code) of the first MAX_LISTED unreadable lines: never their text.
    unreadable_lines: list[tuple[int, str]] = field(default_factory=list)

    MAX_LISTED = 1000

    @property
    def unreadable(self) -> int:
        return sum(self.problems.values())

    @property
    def records(self) -> int:
        """Lines sent as a readable row (the rest were sent with their problem)."""
        return self.sent - self.unreadable


def _messages(
    path: Path, layout: Layout, received_at: dt.datetime
) -> Iterator[tuple[int, bytes, bytes, LineProblem | None]]:
    """(line, key, value, problem) of every line of a file read with ``layout``."""
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
            if row.partial is not None:  # what a cut-off line still says (its own fields)
                message["partial"] = row.partial
            yield line, message_key(row.partial, layout, path.name), orjson.dumps(message), row
        else:
            message["row"] = row
            yield line, message_key(row, layout, path.name), orjson.dumps(message), None


def line_messages(
    path: Path, catalog: Catalog, received_at: dt.datetime, department: str | None = None
) -> Iterator[tuple[str, bytes, bytes, bool]]:
    """(department, key, value, unreadable) of every line; MappingError if no layout reads it."""
    dept, layout = catalog.layout_for(path.name, department)
    for _, key, value, problem in _messages(path, layout, received_at):
        yield dept, key, value, problem is not None


def send_file(
    path: Path,
    catalog: Catalog,
    send: KafkaProducer,
    received_at: dt.datetime,
    department: str | None = None,
    topic_prefix: str = TOPIC_PREFIX,
    on_sent: Callable[[FutureRecordMetadata], None] | None = None,
) -> FileSent:
    """Send every line of one file to its department's topic, without flushing.

    Nothing is sent when no layout reads the file (MappingError) or the file
    cannot be read (OSError): both are raised before the first send.
    ``on_sent`` sees the future of every send, to follow the acknowledgements.
    """
    dept, layout = catalog.layout_for(path.name, department)
    result = FileSent(path.name, dept, layout.name, f"{topic_prefix}{dept}")
    for line, key, value, problem in _messages(path, layout, received_at):
        future = send.send(result.topic, key=key, value=value)
        if on_sent is not None:
            on_sent(future)
        result.sent += 1
        if problem is not None:
            result.problems[problem.code] += 1
            if len(result.unreadable_lines) < FileSent.MAX_LISTED:
                result.unreadable_lines.append((line, problem.code))
    return result


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, without the type twice (Kafka's errors repeat it)."""
    text, name = str(exc), type(exc).__name__
    if text.startswith(name):
        return text
    return f"{name}: {text}" if text else name


class Acks:
    """Counts the broker's answers to a run of sends.

    The callbacks run on the producer's I/O thread; after ``producer.flush()``
    every send made before it has been answered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.first_error: str | None = None

    def track(self, future: FutureRecordMetadata) -> None:
        self.sent += 1
        future.add_callback(self._ok)
        future.add_errback(self._error)

    def _ok(self, _: object) -> None:
        with self._lock:
            self.acked += 1

    def _error(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if self.first_error is None:
                self.first_error = error_text(exc)

    def wait(self, expected: int, timeout: float) -> bool:
        """True once ``expected`` sends have been answered (acknowledged or failed)."""
        deadline = time.monotonic() + timeout
        while self.acked + self.failed < expected:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True


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
            sent = send_file(path, catalog, send, received_at, department, topic_prefix)
        except MappingError:
            count.no_layout.append(path.name)
            continue
        count.files += 1
        count.sent[sent.topic] += sent.sent
        count.unreadable += sent.unreadable
    send.flush(timeout=60)
    return count
