"""The drop folder's pure parts: when a file is complete, where it goes, what its report says.

Nothing here needs Kafka: a file no layout reads is failed before a producer
is made (the producer factory below refuses to be called). Sending is tested
against the real broker in tests/integration/test_ingest_watch.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import NoReturn

import orjson
import pytest
from click.testing import CliRunner

from connectors.cli import main
from connectors.drop_folder import (
    DropFolder,
    FileReport,
    Stability,
    free_name,
    mask,
    report_path,
    waiting_files,
)
from connectors.kafka_ingest import FileSent
from connectors.mapping import Catalog
from engine.events import CST
from tests.connectors.conftest import ID_A, ID_B, REPO_ROOT, csv_bytes

SAMPLES = REPO_ROOT / "samples" / "departments"
STARTED = dt.datetime(2026, 5, 1, 9, 0, 0, 250_000, tzinfo=CST)


def no_kafka() -> NoReturn:
    raise AssertionError("a file no layout reads must not need a producer")


def watcher(
    folder: Path, catalog: Catalog, lines: list[str], department: str | None = None
) -> DropFolder:
    return DropFolder(
        folder, catalog, no_kafka, interval=0.05, department=department, echo=lines.append
    )


def unknown_file(folder: Path, name: str = "unknown_20260401.csv") -> Path:
    """A file no department's layout matches, holding raw ID numbers and a name."""
    path = folder / name
    path.write_bytes(
        csv_bytes(["sfzh", "xm", "je"], [[ID_A, "张三", "1200.50"], [ID_B, "李四", "88"]])
    )
    return path


def test_a_file_is_complete_when_two_polls_see_it_unchanged(tmp_path: Path) -> None:
    stability = Stability()
    (tmp_path / "a.csv").write_bytes(b"x\n")
    assert stability.observe(waiting_files(tmp_path)) == []  # first sight: not yet
    assert stability.observe(waiting_files(tmp_path)) == ["a.csv"]
    with (tmp_path / "a.csv").open("ab") as handle:
        handle.write(b"y\n")  # still being written: the size changed
    (tmp_path / "b.csv").write_bytes(b"x\n")
    assert stability.observe(waiting_files(tmp_path)) == []
    assert stability.observe(waiting_files(tmp_path)) == ["a.csv", "b.csv"]  # in name order
    # Same size, new modification time: rewritten in place, so not complete either.
    stat = (tmp_path / "b.csv").stat()
    os.utime(tmp_path / "b.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert stability.observe(waiting_files(tmp_path)) == ["a.csv"]
    stability.forget("a.csv")
    assert stability.observe(waiting_files(tmp_path)) == ["b.csv"]


def test_part_files_hidden_files_and_subfolders_are_never_taken(tmp_path: Path) -> None:
    (tmp_path / "hukou_20260301.csv.part").write_bytes(b"half")
    (tmp_path / ".hukou_20260301.csv.swp").write_bytes(b"x")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "setl_202604.csv").write_bytes(b"x")
    (tmp_path / "elsewhere.csv").write_bytes(b"")
    (tmp_path / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    (tmp_path / "setl_202604.csv").write_bytes(b"abc")
    listing = waiting_files(tmp_path)
    assert set(listing) == {"elsewhere.csv", "setl_202604.csv"}
    assert listing["setl_202604.csv"].size == 3
    # Renaming the finished .part into place is how a department hands a file over.
    os.rename(tmp_path / "hukou_20260301.csv.part", tmp_path / "hukou_20260301.csv")
    assert "hukou_20260301.csv" in waiting_files(tmp_path)


def test_a_taken_name_gets_a_numeric_suffix_and_nothing_is_overwritten(tmp_path: Path) -> None:
    assert free_name(tmp_path, "ck_2026-02.csv") == tmp_path / "ck_2026-02.csv"
    (tmp_path / "ck_2026-02.csv").write_bytes(b"first")
    assert free_name(tmp_path, "ck_2026-02.csv") == tmp_path / "ck_2026-02.1.csv"
    # A report left without its file (a crash between move and report) also holds its name.
    report_path(tmp_path / "ck_2026-02.1.csv").write_bytes(b"{}")
    assert free_name(tmp_path, "ck_2026-02.csv") == tmp_path / "ck_2026-02.2.csv"
    (tmp_path / "README").write_bytes(b"")
    assert free_name(tmp_path, "README") == tmp_path / "README.1"
    assert report_path(tmp_path / "x.csv").name == "x.csv.report.json"


def test_the_report_gives_counts_codes_line_numbers_and_the_hash(tmp_path: Path) -> None:
    sent = FileSent("setl_202604.csv", "medical_insurance", "settlements", "dept.medical_insurance")
    sent.sent = 13
    sent.problems = Counter({"truncated": 1, "oversized_field": 1})
    sent.unreadable_lines = [(4, "oversized_field"), (14, "truncated")]
    data = (SAMPLES / "setl_202604.csv").read_bytes()
    report = FileReport(
        "setl_202604.csv",
        "done",
        "done/setl_202604.csv",
        STARTED,
        STARTED + dt.timedelta(seconds=1),
        STARTED.replace(microsecond=0),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        sent=sent,
        acknowledged=13,
    )
    document = orjson.loads(report.encode())
    assert document == {
        "v": 1,
        "file": "setl_202604.csv",
        "status": "done",
        "stored_as": "done/setl_202604.csv",
        "reason_code": None,
        "reason": None,
        "department": "medical_insurance",
        "layout": "settlements",
        "topic": "dept.medical_insurance",
        "lines_sent": 13,
        "acknowledged": 13,
        "records": 11,
        "unreadable": 2,
        "unreadable_by_code": {"oversized_field": 1, "truncated": 1},
        "unreadable_lines": [
            {"line": 4, "code": "oversized_field"},
            {"line": 14, "code": "truncated"},
        ],
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "received_at": "2026-05-01T09:00:00.000+08:00",
        "started_at": "2026-05-01T09:00:00.250+08:00",
        "finished_at": "2026-05-01T09:00:01.250+08:00",
    }


def test_id_shaped_digits_are_masked_in_names_and_reasons() -> None:
    assert mask(f"export_{ID_A}.csv") == f"export_{ID_A[:6]}{'#' * 12}.csv"
    assert ID_A not in mask(f"row {ID_A.lower()} and {ID_B}")
    assert mask("setl_20260415.csv, line 14") == "setl_20260415.csv, line 14"


def test_a_file_no_layout_reads_goes_to_failed_with_its_reason(tmp_path: Path) -> None:
    catalog = Catalog.load(REPO_ROOT / "config" / "connectors")
    data = unknown_file(tmp_path).read_bytes()
    named = tmp_path / f"export_{ID_B}.csv"  # an ID number in the name itself
    named.write_bytes(data)
    lines: list[str] = []
    summary = watcher(tmp_path, catalog, lines).run(once=True)
    assert (summary.done, summary.failed, summary.left) == (0, 2, [])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == []
    failed = tmp_path / "failed"
    assert (failed / "unknown_20260401.csv").read_bytes() == data  # moved whole, not rewritten
    report = orjson.loads(report_path(failed / "unknown_20260401.csv").read_bytes())
    assert report["status"] == "failed" and report["reason_code"] == "no_layout"
    assert "no layout of any department matches file 'unknown_20260401.csv'" in report["reason"]
    assert (report["department"], report["layout"], report["topic"]) == (None, None, None)
    assert (report["lines_sent"], report["records"], report["unreadable"]) == (0, 0, 0)
    assert report["sha256"] == hashlib.sha256(data).hexdigest() and report["bytes"] == len(data)
    assert report["stored_as"] == "failed/unknown_20260401.csv"
    assert report["started_at"] <= report["finished_at"]
    masked = orjson.loads(report_path(failed / named.name).read_bytes())
    assert masked["file"] == f"export_{ID_B[:6]}{'#' * 12}.csv"
    reports = [path.read_text() for path in failed.iterdir() if path.name.endswith(".report.json")]
    assert len(reports) == 2 and len(lines) == 2
    assert all("failed" in line and "no_layout" in line for line in lines)
    for text in reports + lines:
        for secret in (ID_A, ID_B, "张三", "李四", "1200.50"):
            assert secret not in text


def test_with_department_given_a_file_of_another_department_fails(tmp_path: Path) -> None:
    catalog = Catalog.load(REPO_ROOT / "config" / "connectors")
    shutil.copy(SAMPLES / "hukou_20260301.csv", tmp_path)
    lines: list[str] = []
    summary = watcher(tmp_path, catalog, lines, department="banks").run(once=True)
    assert summary.failed == 1
    report = orjson.loads((tmp_path / "failed" / "hukou_20260301.csv.report.json").read_bytes())
    assert "no layout of department 'banks'" in report["reason"]


def test_the_same_name_failing_twice_keeps_both_files(tmp_path: Path) -> None:
    catalog = Catalog.load(REPO_ROOT / "config" / "connectors")
    unknown_file(tmp_path)
    watcher(tmp_path, catalog, []).run(once=True)
    unknown_file(tmp_path).write_bytes(b"second delivery\n")
    watcher(tmp_path, catalog, []).run(once=True)
    failed = tmp_path / "failed"
    assert (failed / "unknown_20260401.1.csv").read_bytes() == b"second delivery\n"
    assert (failed / "unknown_20260401.csv").read_bytes() != b"second delivery\n"
    second = orjson.loads(report_path(failed / "unknown_20260401.1.csv").read_bytes())
    assert second["file"] == "unknown_20260401.csv"
    assert second["stored_as"] == "failed/unknown_20260401.1.csv"


def test_once_leaves_a_file_that_is_still_being_written(tmp_path: Path) -> None:
    catalog = Catalog.load(REPO_ROOT / "config" / "connectors")
    growing = tmp_path / "unknown_20260402.csv"
    growing.write_bytes(b"a\n")
    stop = threading.Event()

    def write() -> None:
        with growing.open("ab", buffering=0) as handle:
            while not stop.is_set():
                handle.write(b"more\n")
                time.sleep(0.02)

    writer = threading.Thread(target=write)
    writer.start()
    lines: list[str] = []
    try:
        drop = DropFolder(tmp_path, catalog, no_kafka, interval=0.3, echo=lines.append)
        summary = drop.run(once=True)
    finally:
        stop.set()
        writer.join()
    assert (summary.done, summary.failed, summary.left) == (0, 0, ["unknown_20260402.csv"])
    assert growing.exists() and not (tmp_path / "failed").exists()
    assert any("still being written" in line for line in lines)


def test_a_first_signal_finishes_the_file_a_second_abandons_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog.load(REPO_ROOT / "config" / "connectors")
    drop = watcher(tmp_path, catalog, [])
    drop.on_signal(signal.SIGTERM)
    assert drop.stopping and "SIGTERM: stopping after the current file" in capfd.readouterr().err
    drop._finishing = True  # moving a file and writing its report: never cut
    drop.on_signal(signal.SIGINT)
    drop._finishing = False
    with pytest.raises(KeyboardInterrupt):
        drop.on_signal(signal.SIGINT)
    # A stopped watcher takes nothing more.
    unknown_file(tmp_path)
    assert drop.run().failed == 0 and (tmp_path / "unknown_20260401.csv").exists()


def test_cli_watch_once_without_kafka_fails_the_unknown_file(tmp_path: Path) -> None:
    unknown_file(tmp_path)
    result = CliRunner().invoke(
        main,
        ["ingest", "--watch", str(tmp_path), "--once", "--interval", "0.05",
         "--bootstrap", "127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert (tmp_path / "failed" / "unknown_20260401.csv").exists()
    assert "0 done, 1 failed" in result.output
    assert ID_A not in result.output and ID_B not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--once", str(SAMPLES / "hukou_20260301.csv")], "--once goes with --watch"),
        ([], "give the files"),
        (["--watch", ".", str(SAMPLES / "hukou_20260301.csv")], "not both"),
        (["--watch", ".", "--department", "nope"], "unknown department 'nope'"),
    ],
)
def test_cli_refuses_mixed_up_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["ingest", "--bootstrap", "127.0.0.1:9", *args])
    assert result.exit_code == 2
    assert message in result.output
