"""A line through Kafka normalises exactly as the same line read from its file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from connectors.department_topics import DepartmentTopics
from connectors.files import Reject, ingest_file
from connectors.kafka_ingest import line_messages
from connectors.mapping import Catalog
from engine.events import CST, RecordUnreadable
from engine.identity import Pseudonymiser
from engine.integers import enc_hook
from tests.connectors.conftest import make_id, wrong_check

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
            comparable(item)
            for offset, (dept, _, value, _) in enumerate(line_messages(path, catalog, WHEN))
            for item in topics.decode(f"dept.{dept}", 0, offset, value)
        ]
        assert from_topic == from_file, path.name
        checked += len(from_file)
    assert checked > 300


def test_a_broken_message_is_a_reject_that_says_where() -> None:
    topics = DepartmentTopics(Catalog.load(ROOT / "config" / "connectors"), KEY)
    [reject] = topics.decode("dept.banks", 2, 41, b'{"v": 1, "file": "x", 110105194912310021')
    assert isinstance(reject, Reject)
    assert (reject.reason_code, reject.source, reject.position) == (
        "bad_message",
        "dept.banks/2",
        41,
    )
    assert "110105194912310021" not in str(reject.content)
    [unknown] = topics.decode(
        "dept.banks",
        0,
        1,
        b'{"v":1,"file":"a","line":2,"layout":"nope","received_at":"2026-05-01T09:00:00+08:00","row":{}}',
    )
    assert isinstance(unknown, Reject) and unknown.reason_code == "no_layout"


def test_a_rejected_income_row_says_the_same_through_kafka_as_from_its_file(
    tmp_path: Path,
) -> None:
    catalog = Catalog.load(ROOT / "config" / "connectors")
    good, other = make_id("130126", "19800101", "123"), make_id("410102", "19900505", "431")
    lines = [
        "AAC002,AAC003,AAE003,AAE180,AAB001,AAB301",
        f"{good},张三,202603,4500.00,EMP-1,130126",
        f"{good},张三,202604,45OO.00,EMP-1,130126",  # the amount: unreadable
        f"{other},李四,202603,3800.00",  # cut off before its employer and region
        f"{wrong_check(good)},张三,202605,4500.00,EMP-1,130126",  # whose: unreadable
        f"{good},张三,202613,4500.00,EMP-1,130126",  # which month: unreadable
    ]
    path = tmp_path / "si_contrib_202604.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    topics = DepartmentTopics(catalog, KEY)
    from_file = list(ingest_file(path, catalog, KEY, received_at=WHEN))
    from_topic = [
        item
        for offset, (dept, _, value, _) in enumerate(line_messages(path, catalog, WHEN))
        for item in topics.decode(f"dept.{dept}", 0, offset, value)
    ]
    assert [comparable(i) for i in from_topic] == [comparable(i) for i in from_file]
    assert [type(i).__name__ for i in from_topic] == [
        "Wage", "Reject", "RecordUnreadable", "Reject", "RecordUnreadable", "Reject", "Reject",
    ]  # fmt: skip
    said = [i for i in from_topic if isinstance(i, RecordUnreadable)]
    assert [(u.person, u.month, u.reason) for u in said] == [
        (KEY.pseudonym(good), "2026-04", "bad_number"),
        (KEY.pseudonym(other), "2026-03", "truncated"),
    ]
    # The same ids and contents whichever way they came: applied once.
    assert [(u.event_id, u.fingerprint) for u in said] == [
        (u.event_id, u.fingerprint) for u in from_file if isinstance(u, RecordUnreadable)
    ]
    # The topic's messages carry no more than the file's rows: no name of a cut-off line.
    assert not any(
        "李四".encode() in value for _, _, value, _ in line_messages(path, catalog, WHEN)
    )
