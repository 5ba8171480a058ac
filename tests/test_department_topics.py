"""A line through Kafka normalises exactly as the same line read from its file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from connectors.department_topics import DepartmentTopics
from connectors.files import Reject, ingest_file
from connectors.kafka_ingest import line_messages
from connectors.mapping import Catalog
from engine.events import CST
from engine.identity import Pseudonymiser
from engine.integers import enc_hook

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "departments"
KEY = Pseudonymiser("t1", b"department-topics-test-key")
WHEN = dt.datetime(2026, 5, 1, 9, tzinfo=CST)


def comparable(item: object) -> tuple[str, dict[str, object]]:
    data = msgspec.to_builtins(item, enc_hook=enc_hook)
    data.pop("source", None)
    data.pop("position", None)
    return type(item).__name__, data


def test_every_sample_line_decodes_as_its_file_line() -> None:
    catalog = Catalog.load(ROOT / "config" / "connectors")
    topics = DepartmentTopics(catalog, KEY)
    checked = 0
    for path in sorted(SAMPLES.iterdir()):
        from_file = [comparable(i) for i in ingest_file(path, catalog, KEY, received_at=WHEN)]
        from_topic = [
            comparable(topics.decode(f"dept.{dept}", 0, offset, value))
            for offset, (dept, _, value, _) in enumerate(line_messages(path, catalog, WHEN))
        ]
        assert from_topic == from_file, path.name
        checked += len(from_file)
    assert checked > 300


def test_a_broken_message_is_a_reject_that_says_where() -> None:
    topics = DepartmentTopics(Catalog.load(ROOT / "config" / "connectors"), KEY)
    reject = topics.decode("dept.banks", 2, 41, b'{"v": 1, "file": "x", 110105194912310021')
    assert isinstance(reject, Reject)
    assert (reject.reason_code, reject.source, reject.position) == (
        "bad_message",
        "dept.banks/2",
        41,
    )
    assert "110105194912310021" not in str(reject.content)
    unknown = topics.decode(
        "dept.banks",
        0,
        1,
        b'{"v":1,"file":"a","line":2,"layout":"nope","received_at":"2026-05-01T09:00:00+08:00","row":{}}',
    )
    assert isinstance(unknown, Reject) and unknown.reason_code == "no_layout"
