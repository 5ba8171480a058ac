"""Shared helpers for the connector tests: valid ID numbers, raw files, ingestion.

Tests write their own small department files into ``tmp_path`` and read them
with the shipped mappings in ``config/connectors``; nothing here depends on
``samples/``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog
from engine.events import CST, Event
from engine.identity import Pseudonymiser, check_character

REPO_ROOT = Path(__file__).resolve().parents[2]
MAPPINGS_DIR = REPO_ROOT / "config" / "connectors"
RECEIVED_AT = dt.datetime(2026, 4, 2, 9, 30, tzinfo=CST)
# Envelope fields that depend on the delivery (file, time) or are hashes: the
# mapping tests check them separately from the record's content.
DELIVERY_FIELDS = ("v", "event_id", "fingerprint", "received_at", "source")
MASKED = "***"
BOM = b"\xef\xbb\xbf"

PSEUDONYMISER = Pseudonymiser("t1", b"test-key-0123456789")


def make_id(region6: str, birth: str, seq3: str) -> str:
    """A valid 18-character ID number: region, birth date YYYYMMDD, sequence, check."""
    first17 = f"{region6}{birth}{seq3}"
    assert len(first17) == 17 and first17.isdigit(), first17
    return first17 + check_character(first17)


def wrong_check(id_number: str) -> str:
    """The same ID number with a check character that does not match."""
    good = id_number[17]
    return id_number[:17] + next(c for c in "0123456789X" if c != good)


def masked_token(id_number: str) -> str:
    """How an ID-shaped token that is not a valid ID appears in a reject."""
    return id_number[:6] + "#" * 12


def psn(id_number: str) -> str:
    return PSEUDONYMISER.pseudonym(id_number)


# A few people used throughout: region of first registration, birth date, sequence.
ID_A = make_id("130126", "19800101", "123")
ID_B = make_id("130126", "19850615", "224")
ID_C = make_id("410102", "20100301", "031")
ID_D = make_id("440305", "19551120", "552")
RAW_IDS = (ID_A, ID_B, ID_C, ID_D)


@pytest.fixture(scope="session")
def pseudonymiser() -> Pseudonymiser:
    return PSEUDONYMISER


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load(MAPPINGS_DIR)


def csv_bytes(
    header: Sequence[str],
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    *,
    newline: str = "\n",
    encoding: str = "utf-8",
) -> bytes:
    """A CSV file: dict rows are written in header order (missing keys empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        if isinstance(row, Mapping):
            writer.writerow([row.get(name, "") for name in header])
        else:
            writer.writerow(row)
    return buffer.getvalue().encode(encoding)


def jsonl_bytes(records: Iterable[Mapping[str, Any] | str | bytes], newline: str = "\n") -> bytes:
    """A JSON-lines file: mappings are encoded, str/bytes lines are written as given."""
    lines = []
    for record in records:
        if isinstance(record, bytes):
            lines.append(record)
        elif isinstance(record, str):
            lines.append(record.encode())
        else:
            lines.append(orjson.dumps(record))
    return b"".join(line + newline.encode() for line in lines)


def ingest(
    path: Path,
    data: bytes,
    catalog: Catalog,
    *,
    received_at: dt.datetime = RECEIVED_AT,
    department: str | None = None,
) -> list[Event | Reject]:
    """Write ``data`` to ``path`` and ingest it with the shipped pseudonymiser."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return list(
        ingest_file(path, catalog, PSEUDONYMISER, received_at=received_at, department=department)
    )


def events_of(items: Iterable[Event | Reject]) -> list[Event]:
    return [item for item in items if isinstance(item, Event)]


def rejects_of(items: Iterable[Event | Reject]) -> list[Reject]:
    return [item for item in items if isinstance(item, Reject)]


def position_of(item: Event | Reject) -> int:
    """The line an item came from: a reject's position, an event's ``source`` suffix."""
    if isinstance(item, Reject):
        return item.position
    match = re.fullmatch(r".*:([0-9]+)", item.source)
    assert match, f"event source {item.source!r} does not end in a line number"
    return int(match.group(1))


def _plain(value: Any) -> Any:
    # Contract integers may be int subclasses that msgspec does not encode natively.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def to_json(item: msgspec.Struct) -> bytes:
    """JSON of an event or reject, as it would be published or dead-lettered."""
    return msgspec.json.encode(item, enc_hook=_plain)


def as_builtins(item: msgspec.Struct) -> dict[str, Any]:
    """An event or reject as JSON-ready builtins (times as RFC 3339 strings)."""
    return orjson.loads(to_json(item))  # type: ignore[no-any-return]


def record_of(event: Event) -> dict[str, Any]:
    """An event without its delivery fields: what the mapping must get exactly right."""
    document = as_builtins(event)
    for name in DELIVERY_FIELDS:
        document.pop(name, None)
    return document


def non_blank_lines(data: bytes) -> list[int]:
    """1-based numbers of the lines of ``data`` that hold more than whitespace."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    return [n for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]


def assert_no_raw_ids(items: Iterable[msgspec.Struct], raw_ids: Iterable[str]) -> None:
    """No raw ID number appears anywhere in the JSON of the events and rejects."""
    for item in items:
        encoded = to_json(item).decode()
        for raw in raw_ids:
            for form in {raw, raw.lower()}:
                assert form not in encoded, f"raw ID number leaked into {type(item).__name__}"
