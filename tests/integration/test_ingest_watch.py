"""lifeline ingest --watch: a drop folder onto the real broker, filed away with reports.

The watcher runs as a user runs it (a subprocess of the CLI) against topics of
a prefix this test creates, and the messages are consumed back to check the
reports' counts, the sameness of a file ingested twice and the event ids the
engine would give them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from connectors.department_topics import DepartmentTopics
from connectors.drop_folder import DropFolder
from connectors.files import Reject
from connectors.kafka_ingest import producer
from connectors.mapping import Catalog
from engine.identity import Pseudonymiser
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "departments"
LIFELINE = [sys.executable, "-m", "connectors.cli"]
# Two sample files with unreadable lines among their records, one per department.
GOOD = {"setl_202604.csv": "medical_insurance", "ck_2026-02.csv": "banks"}
BAD = "unknown_20260401.csv"
ID_SHAPE = re.compile(rb"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
KEY = Pseudonymiser("t1", b"ingest-watch-test-key")


@pytest.fixture
def prefix(kafka_admin: KafkaAdminClient) -> Iterator[str]:
    """A topic prefix of this test's own, with a topic for each department it sends."""
    name = unique("test.watch").replace("-", "_") + "."
    topics = [f"{name}{d}" for d in GOOD.values()]
    kafka_admin.create_topics(
        {t: {"num_partitions": 3, "replication_factor": 1} for t in topics}, timeout_ms=15_000
    )
    kafka_admin.wait_for_topics(topics, timeout_ms=15_000)
    yield name
    kafka_admin.delete_topics(topics, timeout_ms=15_000, raise_errors=False)


def lifeline(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFELINE_KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run(
        [*LIFELINE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )


def watch_once(bootstrap: str, folder: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    return lifeline(
        bootstrap, "ingest", "--watch", str(folder), "--once", "--interval", "0.2",
        "--topic-prefix", prefix,
    )  # fmt: skip


def consume(consumer: KafkaConsumer, count: int) -> list[ConsumerRecord]:
    """The next ``count`` records of the consumer's topics (and nothing more within a second)."""
    got: list[ConsumerRecord] = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    got.extend(r for rs in consumer.poll(timeout_ms=1000).values() for r in rs)
    assert len(got) == count, f"expected {count} records on the topics, got {len(got)}"
    return got


def data_lines(path: Path) -> int:
    """Lines of a CSV file that hold something, less the header: each is one message."""
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) - 1


def secrets_of(*paths: Path) -> set[str]:
    """Raw ID numbers and names in the files: what no report or console line may show."""
    found: set[str] = set()
    for path in paths:
        data = path.read_bytes()
        found.update(token.decode() for token in ID_SHAPE.findall(data))
    found.update(
        {"张若汐", "吴昊天", "范爱玲", "张三"}
    )  # names in setl_202604.csv and the bad file
    return found


def without_arrival(records: list[ConsumerRecord]) -> list[tuple[int, bytes, dict[str, Any]]]:
    """(line, key, message less its arrival time) of each record, in line order."""
    found = []
    for record in records:
        message = orjson.loads(record.value)
        assert message.pop("received_at")
        found.append((message["line"], record.key, message))
    return sorted(found, key=lambda item: item[0])


def event_ids(records: list[ConsumerRecord], prefix: str) -> Counter[str]:
    topics = DepartmentTopics(Catalog.load(ROOT / "config" / "connectors"), KEY, prefix)
    ids: Counter[str] = Counter()
    for r in records:
        for item in topics.decode(r.topic, r.partition, r.offset, r.value):
            ids[item.reason_code if isinstance(item, Reject) else item.event_id] += 1
    return ids


def test_drop_folder_sends_files_and_files_them_away_with_reports(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    for name in GOOD:
        shutil.copy(SAMPLES / name, drop / name)
    sample_id = ID_SHAPE.findall((SAMPLES / "setl_202604.csv").read_bytes())[0]
    (drop / BAD).write_bytes(b"sfzh,xm,je\n" + sample_id + ",张三,1200.50\n".encode())
    secrets = secrets_of(drop / BAD, *(SAMPLES / n for n in GOOD))
    assert len(secrets) > 20

    consumer = KafkaConsumer(
        *(f"{prefix}{d}" for d in GOOD.values()),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{prefix}reader",
        enable_auto_commit=False,
    )
    try:
        result = watch_once(kafka_bootstrap, drop, prefix)
        assert result.returncode == 1, result.stderr  # a file failed: scripts must notice
        assert "2 done, 1 failed" in result.stdout, result.stdout
        assert [p.name for p in drop.iterdir() if p.is_file()] == []  # nothing left behind

        # The good files: in done/, their reports' counts are what the topics hold.
        first = consume(consumer, sum(data_lines(SAMPLES / n) for n in GOOD))
        by_file: dict[str, list[ConsumerRecord]] = {}
        for record in first:
            by_file.setdefault(orjson.loads(record.value)["file"], []).append(record)
        reports: dict[str, dict[str, Any]] = {}
        for name, department in GOOD.items():
            stored = drop / "done" / name
            assert stored.read_bytes() == (SAMPLES / name).read_bytes()
            report = orjson.loads((drop / "done" / f"{name}.report.json").read_bytes())
            reports[name] = report
            records = by_file[name]
            problems = sorted(
                (m["line"], m["problem"]["code"])
                for m in (orjson.loads(r.value) for r in records)
                if "problem" in m
            )
            assert {r.topic for r in records} == {f"{prefix}{department}"}
            assert report["status"] == "done" and report["reason_code"] is None
            assert (report["department"], report["topic"]) == (department, f"{prefix}{department}")
            assert report["lines_sent"] == report["acknowledged"] == len(records)
            assert len(records) == data_lines(SAMPLES / name)
            assert report["records"] == len(records) - len(problems)
            assert report["unreadable"] == len(problems) > 0
            assert [(u["line"], u["code"]) for u in report["unreadable_lines"]] == problems
            assert report["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
            assert report["started_at"] <= report["finished_at"]
        assert reports["setl_202604.csv"]["unreadable_by_code"] == {
            "oversized_field": 1,
            "truncated": 1,
        }
        assert reports["ck_2026-02.csv"]["unreadable_by_code"] == {"encoding": 1}

        # The bad file: in failed/, with its reason, nothing of it sent.
        assert (drop / "failed" / BAD).exists()
        failed = orjson.loads((drop / "failed" / f"{BAD}.report.json").read_bytes())
        assert (failed["status"], failed["reason_code"], failed["lines_sent"]) == (
            "failed",
            "no_layout",
            0,
        )
        assert f"no layout of any department matches file '{BAD}'" in failed["reason"]

        # Nothing personal in what the watcher wrote or printed.
        written = [p.read_text() for p in drop.rglob("*.report.json")]
        assert len(written) == 3
        for text in [*written, result.stdout, result.stderr]:
            for secret in secrets:
                assert secret not in text

        # The same file again: the same messages apart from their arrival time.
        shutil.copy(SAMPLES / "setl_202604.csv", drop / "setl_202604.csv")
        again = watch_once(kafka_bootstrap, drop, prefix)
        assert again.returncode == 0, again.stderr
        assert "1 done, 0 failed" in again.stdout
        second = consume(consumer, len(by_file["setl_202604.csv"]))
        stored = drop / "done" / "setl_202604.1.csv"  # the first one is not overwritten
        report = orjson.loads((drop / "done" / "setl_202604.1.csv.report.json").read_bytes())
        assert report["file"] == "setl_202604.csv"
        assert report["sha256"] == reports["setl_202604.csv"]["sha256"]
        assert report["lines_sent"] == len(second)
        assert without_arrival(second) == without_arrival(by_file["setl_202604.csv"])
        # ...so the engine gives them the same event ids: downstream sees nothing new.
        ids = event_ids(second, prefix)
        assert sum(1 for i in ids if i.startswith("ev:")) >= 9
        assert ids == event_ids(by_file["setl_202604.csv"], prefix)
        for secret in secrets:
            assert secret not in again.stdout + again.stderr
            assert secret not in stored.with_name(stored.name + ".report.json").read_text()
    finally:
        consumer.close()


def test_sigterm_finishes_and_exits_cleanly(
    kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    env = {**os.environ, "LIFELINE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    args = ["ingest", "--watch", str(tmp_path), "--interval", "0.2", "--topic-prefix", prefix]
    watcher = subprocess.Popen(
        [*LIFELINE, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        # The department's way: write name.part, rename it when complete.
        part = tmp_path / "ck_2026-02.csv.part"
        shutil.copy(SAMPLES / "ck_2026-02.csv", part)
        time.sleep(0.6)
        assert part.exists() and not (tmp_path / "done").exists()  # a .part is never taken
        part.rename(tmp_path / "ck_2026-02.csv")
        report = tmp_path / "done" / "ck_2026-02.csv.report.json"
        deadline = time.monotonic() + 60
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert report.exists(), "the renamed file was not taken"
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, err
    assert "SIGTERM: stopping after the current file" in err
    assert "1 done, 0 failed" in out
    assert orjson.loads(report.read_bytes())["lines_sent"] == 12


def test_a_kafka_failure_sends_the_file_to_failed(kafka_bootstrap: str, tmp_path: Path) -> None:
    # No topic of this prefix exists and the broker creates none: every send fails.
    prefix = unique("test.missing").replace("-", "_") + "."
    shutil.copy(SAMPLES / "hukou_20260301.csv", tmp_path)
    lines: list[str] = []
    drop = DropFolder(
        tmp_path,
        Catalog.load(ROOT / "config" / "connectors"),
        lambda: producer(kafka_bootstrap, max_block_ms=2_000),
        interval=0.05,
        topic_prefix=prefix,
        echo=lines.append,
    )
    try:
        summary = drop.run(once=True)
    finally:
        drop.close(timeout=5)
    assert (summary.done, summary.failed) == (0, 1)
    report = orjson.loads((tmp_path / "failed" / "hukou_20260301.csv.report.json").read_bytes())
    assert report["reason_code"] == "kafka"
    assert "KafkaTimeoutError" in report["reason"]
    assert "(0 lines handed to the producer)" in report["reason"]
    assert report["acknowledged"] == 0
    assert report["department"] == "public_security"
    assert any("failed" in line and "kafka" in line for line in lines)
