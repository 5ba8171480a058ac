"""Bad input and personal data through a real worker process, on the real broker and Redis.

- Malformed records mixed into good ones: every good one is applied (the
  households end as an in-process replay of the good ones leaves them), every
  bad one is on the dead-letter topic once, with its reason and the topic,
  partition and offset it was produced at, its content pseudonymised; the
  partitions keep flowing behind them.
- A PII canary: fake but valid ID numbers through every path (good records
  that raise alerts, bad records, garbage), a worker logging at debug level;
  none of them, nor their 15- and 17-digit prefixes, appears in the logs, the
  metrics, Redis, or any topic the worker writes (the department topics, where
  raw numbers belong, aside). A canary name and the canaries' full pseudonyms
  stay out of the logs too (docs/privacy.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from connectors.feed import Feeder, Received, alerts_of, arrivals, read_topic
from connectors.files import Reject, ingest_file
from connectors.kafka_ingest import line_messages
from connectors.replay import ReplaySummary, plan_deliveries
from engine.events import RecordUnreadable, decode_event
from engine.identity import check_character, validate_id_number

from .test_worker import standing
from .worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    ROOT,
    Deployment,
    WorkerProcess,
    household_states,
    metric_samples,
    metrics_page,
    redis_contents,
    reference,
    states_in,
)

SAMPLES = ROOT / "samples" / "departments"
RECEIVED = "2026-02-11T09:00:00+08:00"
LONG_DIGITS = re.compile(rb"[0-9]{15,}")


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Workers a test started; any still running when it ends (it failed) is killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.alive():
            worker.kill()


def fake_id(region: str, birth: str, sequence: int) -> str:
    """A valid (but nobody's) ID number: region, birth date, sequence, MOD 11-2 check."""
    first17 = f"{region}{birth}{sequence:03d}"
    return validate_id_number(first17 + check_character(first17))


def wrong_check(number: str) -> str:
    """The same number with a check character that does not match."""
    digits = "0123456789X"
    return number[:17] + digits[(digits.index(number[17]) + 1) % len(digits)]


def line(layout: str, row: Any = None, *, received_at: str = RECEIVED, **extra: Any) -> bytes:
    """A department-topic message as `lifeline ingest` builds it (connectors/kafka_ingest.py)."""
    message: dict[str, Any] = {
        "v": 1, "file": "hand-made.csv", "line": 2, "layout": layout, "received_at": received_at,
    }  # fmt: skip
    if row is not None:
        message["row"] = row
    return orjson.dumps({**message, **extra})


def wage_row(person: str, **changes: str | None) -> dict[str, str]:
    """A contributions row (human_resources); a change to None drops the column."""
    row = {
        "AAB301": "130100", "AAB001": "13010001127", "AAB004": "某物流有限公司",
        "AAC002": person, "AAC003": "王某", "AAE003": "202601", "AAE180": "3600.00",
    }  # fmt: skip
    for column, value in changes.items():
        if value is None:
            del row[column]
        else:
            row[column] = value
    return row


@dataclass(frozen=True)
class Bad:
    """A message the worker must set aside, and the reason code it must give."""

    label: str
    topic: str  # "events" or a department
    value: bytes | None
    code: str
    key: bytes | None = None


@dataclass(frozen=True)
class Produced:
    topic: str
    partition: int
    offset: int
    code: str | None  # the reason code of its dead letter; None: it is good
    label: str

    @property
    def place(self) -> str:
        """The key of its dead letter, and what the reject gives as source and position."""
        return f"{self.topic}/{self.partition}@{self.offset}"


class Sender:
    """Produces messages and remembers where each landed.

    Uncompressed, as a department's own producer may send them: the record batches
    the worker fetches then hold the raw text (which aiokafka logs at debug).
    """

    def __init__(self, bootstrap: str) -> None:
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.waiting: list[tuple[FutureRecordMetadata, str | None, str]] = []
        self.produced: list[Produced] = []

    def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        code: str | None = None,
        label: str = "",
    ) -> None:
        future = self.producer.send(topic, value=value, key=key, partition=partition)
        self.waiting.append((future, code, label))

    def flush(self) -> None:
        self.producer.flush(timeout=60)
        for future, code, label in self.waiting:
            m = future.get(timeout=60)
            self.produced.append(Produced(m.topic, m.partition, m.offset, code, label))
        self.waiting.clear()

    def close(self) -> None:
        self.producer.close()


def replayed(folder: Path, deployment: Deployment) -> tuple[ReplaySummary, dict[str, bytes]]:
    """The files replayed in-process: the alerts and household states of the good records."""
    clean, summary = reference(plan_deliveries(folder), deployment)
    return summary, household_states(dict(clean.values))


def dead_letters(deployment: Deployment) -> list[tuple[Received, Reject]]:
    return [
        (m, msgspec.json.decode(m.value, type=Reject))
        for m in read_topic(deployment.bootstrap, deployment.topics.rejects)
    ]


# --- 1. malformed records among good ones ------------------------------------------------


def malformed() -> list[Bad]:
    person = fake_id("130126", "19850109", 41)
    hr, ps, ca = "human_resources", "public_security", "civil_affairs"
    return [
        Bad("not JSON", hr, b"this is not JSON \xff\xfe at all, " + person.encode(), "bad_message"),
        Bad("empty message", hr, b"", "bad_message"),
        Bad("tombstone", ps, None, "bad_message", key=b"nothing"),
        Bad("JSON object, not a line message", ca, b'{"hello": "world"}', "bad_message"),
        Bad("JSON array", hr, b"[1, 2, 3]", "bad_message"),
        Bad("JSON null", ps, b"null", "bad_message"),
        Bad(
            "arrival time without zone",
            hr,
            line("contributions", wage_row(person), received_at="2026-02-11T09:00:00"),
            "bad_message",
        ),
        Bad(
            "arrival time not a time",
            hr,
            line("contributions", wage_row(person), received_at="yesterday"),
            "bad_message",
        ),
        Bad(
            "problem not an object",
            hr,
            line("contributions", problem="broken", text="x"),
            "bad_message",
        ),
        Bad("row not an object", hr, line("contributions", ["a", "b"]), "bad_message"),
        Bad("no such layout", hr, line("payroll", wage_row(person)), "no_layout"),
        Bad("another department's layout", hr, line("changes", wage_row(person)), "no_layout"),
        Bad("layout shaped like an ID number", ps, line(person, wage_row(person)), "no_layout"),
        Bad(
            "unreadable line, as ingest sends it",
            hr,
            line(
                "contributions",
                problem={"code": "bad_csv", "message": "line is not valid CSV"},
                text=f'130100,"{person},3600',
            ),
            "bad_csv",
        ),
        Bad(
            "bad check digit",
            hr,
            line("contributions", wage_row(wrong_check(person))),
            "id_check_digit",
        ),
        Bad(
            "missing column",
            hr,
            line("contributions", wage_row(person, AAE180=None)),
            "missing_column",
        ),
        Bad("bad month", hr, line("contributions", wage_row(person, AAE003="2026-13")), "bad_date"),
        Bad(
            "bad amount",
            hr,
            line("contributions", wage_row(person, AAE180="3,6OO.00")),
            "bad_number",
        ),
        Bad(
            "empty amount", hr, line("contributions", wage_row(person, AAE180="")), "missing_value"
        ),
        Bad("blank ID number", hr, line("contributions", wage_row("  ")), "missing_value"),
        Bad(
            "bad date of death",
            ps,
            line(
                "changes",
                {
                    "sfzh": person,
                    "xm": "王某",
                    "bdlx": "02",
                    "bdrq": "2026-03-09",
                    "qhdm": "130126",
                },
            ),
            "bad_date",
        ),
        Bad(
            "unknown change type",
            ps,
            line(
                "changes",
                {"sfzh": person, "xm": "王某", "bdlx": "77", "bdrq": "20260309", "qhdm": "130126"},
            ),
            "unknown_code",
        ),
        Bad(
            "members not a list",
            ca,
            line(
                "roster",
                {
                    "ywlx": "ENROL",
                    "jzbh": "HB130126-9999",
                    "xzqh": "130126",
                    "bzlx": "01",
                    "ffje": "700",
                    "sbsr": "100",
                    "rq": "2026-01-05",
                    "cy": person,
                },
            ),
            "bad_type",
        ),
        # Stage 2: what is on the household topic must be an event.
        Bad("event topic: not JSON", "events", b"not an event", "bad_event", key=b"bad-1"),
        Bad(
            "event topic: not an event",
            "events",
            b'{"kind": "income.wage"}',
            "bad_event",
            key=b"bad-2",
        ),
        Bad("event topic: tombstone", "events", None, "bad_event", key=b"bad-3"),
    ]


@pytest.mark.timeout(300)
def test_a_delivery_bigger_than_a_batch_and_a_fetch_on_one_partition_goes_on_whole(
    deployment: Deployment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """One arrival time goes on only once no partition can bring more of it. The
    worker stopped fetching a partition once it held a batch's worth, so a delivery
    of more than a batch and more than one fetch (1 MB) on one partition stopped it
    for good; the scale benchmark's 10,000 households did that with a bank file."""
    lines = 15_000
    topic = deployment.topics.department("human_resources")
    sender = Sender(deployment.bootstrap)
    for n in range(lines):  # distinct persons (in no household: held for an enrolment)
        person = fake_id("130102", f"1980{1 + n // 1000 % 12:02d}{1 + n // 12000:02d}", n % 1000)
        sender.send(topic, line("contributions", wage_row(person), line=n + 2), partition=0)
    sender.flush()
    sender.close()
    assert len(sender.produced) == lines
    worker = WorkerProcess(deployment, tmp_path)  # (batches of 2,000)
    workers.append(worker)
    worker.start()
    feeder = Feeder(deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    feeder.wait(deployment.store(), deployment.app, timeout=120, alive=worker.alive)
    feeder.close()
    held = {
        s.labels.get("outcome"): s.value
        for s in metric_samples(worker)
        if s.name == "lifeline_engine_outcomes_total"
    }
    assert worker.stop() == 0, worker.log_text()[-3000:]
    assert held.get("held", 0) == lines, held


def test_malformed_records_are_dead_letters_and_good_ones_all_apply(
    deployment: Deployment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    topics = deployment.topics
    worker = WorkerProcess(deployment, tmp_path)
    workers.append(worker)
    worker.start()
    worker.wait_until_serving()
    store = deployment.store()
    feeder = Feeder(deployment.bootstrap, topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    sender = Sender(deployment.bootstrap)

    steps = arrivals(plan_deliveries(SAMPLES))
    bad = malformed()
    # The bad messages go out with the first half of the deliveries, each in the
    # middle of one delivery's lines, so good records follow them on their partitions.
    placed: dict[int, list[tuple[int, Bad]]] = {}
    for number, item in enumerate(bad):
        placed.setdefault(number * (len(steps) // 2) // len(bad), []).append((number, item))
    for number, step in enumerate(steps):
        lines: list[tuple[str, bytes, bytes, str | None]] = []
        for delivery in step:
            items = [  # one a line (what a rejected row still says follows its reject)
                item
                for item in ingest_file(
                    delivery.path, CATALOG, PSEUDONYMISER, received_at=delivery.received_at
                )
                if not isinstance(item, RecordUnreadable)
            ]
            for item, (dept, key, value, _) in zip(
                items, line_messages(delivery.path, CATALOG, delivery.received_at), strict=True
            ):
                code = item.reason_code if isinstance(item, Reject) else None
                lines.append((topics.department(dept), key, value, code))
        middle = len(lines) // 2
        for topic, key, value, code in lines[:middle]:
            sender.send(topic, value, key=key, code=code, label="sample line")
        for i, item in placed.get(number, []):  # (on every partition of their topics)
            events = item.topic == "events"
            sender.send(
                topics.events if events else topics.department(item.topic),
                item.value,
                key=item.key,
                partition=i % (deployment.events_partitions if events else 2),
                code=item.code,
                label=item.label,
            )
        for topic, key, value, code in lines[middle:]:
            sender.send(topic, value, key=key, code=code, label="sample line")
        sender.flush()
        feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)
    metrics = metric_samples(worker)
    assert worker.alive(), worker.log_text()[-3000:]
    assert worker.stop() == 0, worker.log_text()[-3000:]
    sender.close()
    feeder.close()

    produced = sender.produced
    by_label = {p.label: p for p in produced}
    assert len(by_label) == len(bad) + 1  # every bad one went out (labels are unique)
    bad_places = [p for p in produced if p.label != "sample line"]
    bad_keys = {b.key for b in bad if b.topic == "events"}
    expected = {p.place: p for p in produced if p.code is not None}
    assert len(expected) > len(bad)  # the samples' own bad lines are among them

    # Each one is on the dead-letter topic exactly once, where it came from, with its reason.
    dead = dead_letters(deployment)
    keys = Counter(m.key.decode() for m, _ in dead if m.key is not None)
    assert len(keys) == len(dead) and set(keys.values()) == {1}, keys.most_common(3)
    assert set(keys) == set(expected)
    for message, reject in dead:
        source = expected[message.key.decode()]  # type: ignore[union-attr]
        assert (reject.reason_code, reject.source, reject.position) == (
            source.code, f"{source.topic}/{source.partition}", source.offset,
        ), source.label  # fmt: skip
        assert reject.reason.strip(), source.label
        if source.topic.startswith(topics.department_prefix):
            assert reject.department == source.topic.removeprefix(topics.department_prefix)
        # Pseudonymised: no ID number, nor anything as long as one, in key or value.
        assert not LONG_DIGITS.search(message.value), (source.label, message.value[:400])
    content = {expected[m.key.decode()].label: r.content for m, r in dead if m.key is not None}
    person = fake_id("130126", "19850109", 41)
    pseudonym = PSEUDONYMISER.pseudonym(person)
    assert content["missing column"]["AAC002"] == pseudonym  # type: ignore[index]
    assert content["missing column"]["AAC003"] == "***"  # type: ignore[index]
    assert content["bad check digit"]["AAC002"] == person[:6] + "#" * 12  # type: ignore[index]
    assert pseudonym in str(content["not JSON"])
    assert pseudonym in str(content["unreadable line, as ingest sends it"])

    # Every good line was applied: households and alerts as a replay of the files.
    summary, states = replayed(SAMPLES, deployment)
    assert len(states) == 40
    assert states_in(store, sorted(states)) == states
    alerts = [a for _, a in alerts_of(read_topic(deployment.bootstrap, topics.alerts))]
    assert len(standing(summary.alerts)) > 10
    assert standing(alerts) == standing(summary.alerts)
    assert Counter(p.code for p in produced if p.label == "sample line" and p.code) == (
        summary.rejects
    )

    # Nothing was blocked: on every partition a bad message went to, good ones came after
    # (applied, as the states show; on the household topic, sent on by the worker itself).
    events = read_topic(deployment.bootstrap, topics.events)
    goods = [(p.topic, p.partition, p.offset) for p in produced if p.code is None]
    goods += [(m.topic, m.partition, m.offset) for m in events if m.key not in bad_keys]
    for p in bad_places:
        assert any(t == p.topic and q == p.partition and o > p.offset for t, q, o in goods), p

    # A bad row of income whose own person and month can be read also went on as what it
    # still says, keyed as its wage would have been (no household: by its person); a row
    # whose ID number or month cannot be read did not (nothing is guessed).
    said = {
        (m.key, e.event_id, e.reason)
        for m in events
        if m.key not in bad_keys and b'"record.unreadable"' in (m.value or b"")
        for e in [decode_event(m.value)]
        if isinstance(e, RecordUnreadable) and e.person == pseudonym and e.month == "2026-01"
    }
    assert sorted(reason for _, _, reason in said) == [
        "bad_number", "missing_column", "missing_value",
    ]  # fmt: skip
    assert {key for key, _, _ in said} == {f"person:{pseudonym}".encode()}

    # The metrics count them the same way.
    rejects = Counter(
        {s.labels["reason"]: int(s.value) for s in metrics if s.name == "lifeline_rejects_total"}
    )
    assert rejects == Counter(p.code for p in expected.values())
    records_in = sum(int(s.value) for s in metrics if s.name == "lifeline_records_in_total")
    assert records_in == sum(1 for p in produced if p.topic != topics.events)
    assert '"level":"error"' not in worker.log_text()


# --- 2. a PII canary ------------------------------------------------------------------------

A = fake_id("130126", "19800307", 51)  # the earner of household 1 (check character X)
B = fake_id("130126", "19820911", 62)  # spouse
C = fake_id("130126", "20100101", 33)  # child, who moves away
D = fake_id("130424", "19450615", 44)  # the only member of household 2
CANARIES = (A, B, C, D)
NAME = "金丝雀"  # the earner's name: names never leave the departments' data either
HEADER_SI = "AAB301,AAB001,AAB004,AAC002,AAC003,AAE003,AAE180\n"
HEADER_HUKOU = "sfzh,xm,bdlx,bdrq,qhdm,qcqhdm,qrqhdm,fqsfzh,tjyf,jls\n"


def canary_world(folder: Path) -> None:
    """Two households whose records raise alerts, with bad lines among them.

    Household 1 (130126): the earner's wages for months, his death, a wage after
    it (earner death, income above the line, conflicting records), the child
    moving to another county. Household 2 (130424): its only member dies. No
    end-of-batch for February, so operators hear of a missing batch.
    """
    enrol = [
        {"ywlx": "ENROL", "jzbh": "HBCANARY-1", "xzqh": "130126", "bzlx": "01", "cxlb": "2",
         "ffje": "500.00", "sbsr": "1500.00", "rq": "2025-10-01",
         "cy": [{"sfzh": A, "xm": NAME, "yhzgx": "02"}, {"sfzh": B, "xm": "乙某", "yhzgx": "10"},
                {"sfzh": C, "xm": "丙某", "yhzgx": "20"}]},
        {"ywlx": "ENROL", "jzbh": "HBCANARY-2", "xzqh": "130424", "bzlx": "02", "cxlb": "2",
         "ffje": "900.00", "sbsr": "0", "rq": "2025-10-01",
         "cy": [{"sfzh": D, "xm": "丁某", "yhzgx": "02"}]},
    ]  # fmt: skip
    roster = b"\n".join(orjson.dumps(r) for r in enrol)
    # A truncated line: unreadable, its text kept (masked) in the reject.
    roster += f'\n{{"ywlx":"ADD","jzbh":"HBCANARY-1","sfzh":"{D}","rq":"2025-'.encode()
    (folder / "roster_202510.jsonl").write_bytes(roster + b"\n")
    for month in ("202510", "202511", "202512", "202601", "202602", "202604"):
        rows = [f"130100,13010001127,某物流有限公司,{A},{NAME},{month},3000.00"]
        if month == "202601":
            rows += [
                f"130100,{B},某物流有限公司,{wrong_check(C)},丙某,{month},800.00",  # bad ID
                f"130100,13010001127,某物流有限公司,{B},乙某,{month},三千",  # bad amount
                f'130100,"{C},某物流有限公司,{B},乙某,{month},800.00',  # not CSV
                f"130100,{D},{month}",  # too few columns
            ]
        (folder / f"si_contrib_{month}.csv").write_text(HEADER_SI + "\n".join(rows) + "\n")
        if month <= "202601":
            (folder / f"eob_si_{month}.csv").write_text(
                "AAB301,AAE003,JLS,WCSJ\n"
                f"130126,{month},1,{month[:4]}-{month[4:]}-28 17:00:00\n"
                f"130424,{month},0,{month[:4]}-{month[4:]}-28 17:00:00\n"
            )
    (folder / "hukou_20260310.csv").write_text(
        HEADER_HUKOU + f"{A},{NAME},02,20260309,130126,,,,,\n{D},丁某,02,20260309,130424,,,,,\n"
        f"{B},乙某,01,2026-03-09,130126,,,{C},,\n"  # a bad date, another canary beside it
    )
    (folder / "hukou_20260620.csv").write_text(
        HEADER_HUKOU + f"{C},丙某,04,20260531,130126,130126,130105,,,\n"
    )


def garbage() -> list[Bad]:
    """Messages no connector made, carrying the canaries wherever they can."""
    hr, ps, ca = "human_resources", "public_security", "civil_affairs"
    enrol = {"ywlx": "ENROL", "jzbh": "HBCANARY-3", "xzqh": "130126", "bzlx": "01",
             "ffje": "500.00", "sbsr": "100", "rq": "2026-01-05",
             "cy": [{"sfzh": C, "xm": NAME, "yhzgx": "02"}]}  # fmt: skip
    return [
        Bad(
            "free text",
            hr,
            f"garbage {A} and {B[:17]} and {C[:15]}, {NAME}".encode(),
            "bad_message",
            key=A.encode(),
        ),
        Bad("layout named by an ID number", ps, line(B, {"sfzh": B}), "no_layout", key=B.encode()),
        Bad(
            "problem quoting an ID number",
            hr,
            line(
                "contributions",
                problem={"code": "bad_csv", "message": f"cannot read {C}"},
                text=f"{A},{B}",
            ),
            "bad_csv",
        ),
        Bad(
            "problem code that is an ID number",
            hr,
            line("contributions", problem={"code": D, "message": D}, text=D),
            "bad_message",
        ),
        Bad(
            "arrival time without zone",
            ca,
            line("roster", enrol, received_at="2026-01-05T10:00"),
            "bad_message",
        ),
        Bad("tombstone keyed by an ID number", hr, None, "bad_message", key=C.encode()),
        Bad(
            "event topic: kind is an ID number",
            "events",
            orjson.dumps({"kind": A, "person": B, "household": C}),
            "bad_event",
            key=A.encode(),
        ),
        Bad(
            "event topic: free text",
            "events",
            f"not an event {D} {A[:17]}".encode(),
            "bad_event",
            key=D.encode(),
        ),
    ]


def forms(number: str) -> list[bytes]:
    """What would give a person away: the number, and its 17- and 15-digit prefixes."""
    return [number[:n].encode().lower() for n in (18, 17, 15)]


def name_forms(name: str) -> list[bytes]:
    """A name as text, as JSON escapes it, as a bytes repr escapes its UTF-8."""
    return [
        name.encode(),
        "".join(f"\\u{ord(c):04x}" for c in name).encode(),
        "".join(f"\\x{b:02x}" for b in name.encode()).encode(),
    ]


def leaks(where: str, haystack: bytes, names: bool = True) -> list[str]:
    text = haystack.lower()
    while b"\\\\" in text:  # (a log line escapes the escapes of the message it quotes)
        text = text.replace(b"\\\\", b"\\")
    wanted = [f for c in CANARIES for f in forms(c)] + (name_forms(NAME) if names else [])
    return [f"{where}: {f.decode()}" for f in wanted if f in text]


@pytest.mark.timeout(300)
def test_pii_canaries_never_leave_the_department_topics(
    deployment: Deployment, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    topics = deployment.topics
    world = tmp_path / "world"
    world.mkdir()
    canary_world(world)
    worker = WorkerProcess(deployment, tmp_path, loglevel="debug")
    workers.append(worker)
    worker.start()
    worker.wait_until_serving()
    store = deployment.store()
    feeder = Feeder(deployment.bootstrap, topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    for step in arrivals(plan_deliveries(world)):
        feeder.send(step)
        feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)
    sender = Sender(deployment.bootstrap)
    bad = garbage()
    for i, item in enumerate(bad):
        events = item.topic == "events"
        sender.send(
            topics.events if events else topics.department(item.topic),
            item.value,
            key=item.key,
            partition=i % 2,
            code=item.code,
            label=item.label,
        )
    sender.flush()
    sender.close()
    feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)
    metrics_text = metrics_page(worker)
    assert worker.stop() == 0, worker.log_text()[-3000:]
    feeder.close()

    # The paths were exercised: alerts for both households, every bad record set aside.
    summary, states = replayed(world, deployment)
    published = read_topic(deployment.bootstrap, topics.alerts)
    alerts = [a for _, a in alerts_of(published)]
    assert {(a.household, a.detector) for a in alerts} >= {
        ("HBCANARY-1", "earner_death"),
        ("HBCANARY-1", "conflicting_records"),
        ("HBCANARY-1", "moved_away"),
        ("HBCANARY-2", "sole_member_died"),
    }
    assert standing(alerts) == standing(summary.alerts)
    assert states_in(store, sorted(states)) == states
    dead = dead_letters(deployment)
    assert Counter(r.reason_code for _, r in dead) == summary.rejects + Counter(b.code for b in bad)
    assert sum(summary.rejects.values()) == 6
    placed = {p.place: p.code for p in sender.produced}
    assert {m.key.decode(): r.reason_code for m, r in dead if m.key.decode() in placed} == placed  # type: ignore[union-attr]

    # Where a person could show up: logs, metrics, Redis, and every topic the worker writes.
    log_text = worker.log_text()
    assert '"level":"debug"' in log_text  # (debug lines were written)
    # Every line went through the worker's handler, and so through its Redact filter.
    lines = [orjson.loads(t) for t in log_text.splitlines() if t.strip()]
    assert all(isinstance(entry, dict) and "message" in entry for entry in lines)
    found = leaks("log", log_text.encode()) + leaks("metrics", metrics_text.encode())
    contents = redis_contents(deployment)
    assert contents, "nothing under the deployment's Redis prefix"
    for key, values in contents.items():
        found += leaks(f"redis key {key!r}", key)
        for value in values:
            found += leaks(f"redis value of {key!r}", value)
    written = [topics.alerts, topics.operator, topics.events, topics.rejects]
    written += [topics.region(r) for r in ("130126", "130424")]
    seen: dict[str, list[Received]] = {t: read_topic(deployment.bootstrap, t) for t in written}
    ours = {(p.topic, p.partition, p.offset) for p in sender.produced}  # (the test's input)
    for topic, messages in seen.items():
        for m in (m for m in messages if (m.topic, m.partition, m.offset) not in ours):
            found += leaks(f"{topic}@{m.partition}/{m.offset} key", m.key or b"")
            # (a garbage message's dead letter keeps its text, a name too: the rejects topic
            # has the access control of the departments' data; ID numbers are pseudonymised)
            names = topic != topics.rejects
            found += leaks(f"{topic}@{m.partition}/{m.offset} value", m.value, names)
    assert not found, "\n".join(sorted(set(found))[:40])

    # ... and the search would have found them: their pseudonyms are there.
    pseudonyms = [PSEUDONYMISER.pseudonym(c).encode() for c in CANARIES]
    stored = b"\n".join(k + b"\n" + b"\n".join(v) for k, v in contents.items())
    assert all(p in stored for p in pseudonyms)
    assert not [p for p in pseudonyms if p in log_text.encode()]  # (logs shorten pseudonyms)
    events = b"\n".join(m.value for m in seen[topics.events])
    assert all(p in events for p in pseudonyms)
    assert seen[topics.operator], "no operator alert: the missing batch was not reported"
    assert all(seen[topics.region(r)] for r in ("130126", "130424"))
