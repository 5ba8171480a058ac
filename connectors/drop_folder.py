"""A drop folder: department files put there are sent to Kafka, then filed away with a report.

``lifeline ingest --watch FOLDER`` polls the folder every ``--interval``
seconds. The convention for the departments (and whoever copies their files):

- A file is taken only once it is complete: its size and modification time
  are the same on two polls in a row. Writers that can should write
  ``name.part`` (or a name starting with ``.``; both are never taken) and
  rename it when done, which is atomic; the stability rule covers the rest.
- Files are taken in name order. Each is sent exactly as ``lifeline ingest
  FILE`` sends it (:func:`connectors.kafka_ingest.send_file`), the producer is
  flushed and every send must be acknowledged; only then is the file moved to
  ``FOLDER/done/`` with ``<file>.report.json`` beside it.
- A file that cannot be ingested (no department layout matches its name, it
  cannot be read, or Kafka did not take every line after the producer's
  retries) goes to ``FOLDER/failed/`` with a report giving the reason.
- Nothing is lost: until it is moved, a file stays where it was dropped, so a
  watcher that dies mid-file sends it again on restart (records have stable
  event ids; downstream de-duplicates). A name already taken in ``done/`` or
  ``failed/`` gets a numeric suffix (``x.csv``, ``x.1.csv``, ``x.2.csv``...).
- One watcher per folder.

Reports and console lines carry file names, counts, problem codes and line
numbers, never the content of a line: no ID numbers, names or amounts (any
ID-shaped digits in a file name or an error text are masked too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from kafka import KafkaProducer
from kafka import errors as kerrors

from connectors.kafka_ingest import TOPIC_PREFIX, Acks, FileSent, error_text, send_file
from connectors.mapping import Catalog, MappingError
from engine.events import CST
from engine.identity import _ID_TOKEN

DONE = "done"
FAILED = "failed"
PART_SUFFIX = ".part"
REPORT_SUFFIX = ".report.json"
FLUSH_TIMEOUT_S = 180.0  # above the producer's delivery timeout (120 s): its retries end first

Status = Literal["done", "failed", "left"]


def mask(text: str) -> str:
    """Free text with every ID-shaped run of digits cut to its first six (a region, nobody).

    >>> mask("unknown_110105194912310021.csv")
    'unknown_110105############.csv'
    """
    return _ID_TOKEN.sub(lambda m: m.group(0)[:6] + "#" * (len(m.group(0)) - 6), text)


def _now() -> dt.datetime:
    return dt.datetime.now(CST)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="milliseconds")


# --- which files are ready -----------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a poll saw of a file."""

    size: int
    mtime_ns: int


def waiting_files(folder: Path) -> dict[str, Seen]:
    """Regular files in the folder itself, except ``.part`` and hidden ones.

    ``done/``, ``failed/`` and any other subfolder are not looked into.
    """
    found: dict[str, Seen] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith(PART_SUFFIX):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone between the listing and the look
                continue
            found[entry.name] = Seen(stat.st_size, stat.st_mtime_ns)
    return found


class Stability:
    """A file is complete when two polls in a row see the same size and modification time."""

    def __init__(self) -> None:
        self._last: dict[str, Seen] = {}

    def observe(self, listing: dict[str, Seen]) -> list[str]:
        """Record one poll; the names, in order, that did not change since the previous one."""
        stable = sorted(name for name, seen in listing.items() if self._last.get(name) == seen)
        self._last = dict(listing)
        return stable

    def forget(self, name: str) -> None:
        """Start over for ``name``: it must be seen unchanged on two more polls."""
        self._last.pop(name, None)


# --- where a file goes, and what is written about it ----------------------------------------


def report_path(stored: Path) -> Path:
    return stored.with_name(stored.name + REPORT_SUFFIX)


def free_name(directory: Path, name: str) -> Path:
    """``directory/name``, or with a numeric suffix before the extension when that is taken.

    A name counts as taken when the file or its report exists, so a report is
    never overwritten either.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, n = directory / name, 0
    while candidate.exists() or report_path(candidate).exists():
        n += 1
        candidate = directory / f"{stem}.{n}{suffix}"
    return candidate


@dataclass
class FileReport:
    """Everything the report of one file says. Counts, codes and line numbers: no line content."""

    file: str
    status: Literal["done", "failed"]
    stored_as: str  # relative to the drop folder
    started_at: dt.datetime
    finished_at: dt.datetime
    received_at: dt.datetime | None
    size: int | None = None  # bytes
    sha256: str | None = None
    sent: FileSent | None = None
    department: str | None = None
    layout: str | None = None
    acknowledged: int = 0
    reason_code: str | None = None  # no_layout, unreadable or kafka
    reason: str | None = None

    def document(self) -> dict[str, Any]:
        sent = self.sent
        return {
            "v": 1,
            "file": mask(self.file),
            "status": self.status,
            "stored_as": mask(self.stored_as),
            "reason_code": self.reason_code,
            "reason": mask(self.reason) if self.reason else None,
            "department": sent.department if sent else self.department,
            "layout": sent.layout if sent else self.layout,
            "topic": sent.topic if sent else None,
            "lines_sent": sent.sent if sent else 0,
            "acknowledged": self.acknowledged,
            "records": sent.records if sent else 0,
            "unreadable": sent.unreadable if sent else 0,
            "unreadable_by_code": dict(sorted(sent.problems.items())) if sent else {},
            # The first FileSent.MAX_LISTED of them; their text stays in the file.
            "unreadable_lines": (
                [{"line": line, "code": code} for line, code in sent.unreadable_lines]
                if sent
                else []
            ),
            "bytes": self.size,
            "sha256": self.sha256,
            "received_at": _stamp(self.received_at) if self.received_at else None,
            "started_at": _stamp(self.started_at),
            "finished_at": _stamp(self.finished_at),
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.document(), option=orjson.OPT_INDENT_2) + b"\n"


def file_away(folder: Path, name: str, report: FileReport) -> Path:
    """Move ``folder/name`` into done/ or failed/ under a free name, then write its report.

    The move is a rename (atomic); the report is written to a temporary name
    and renamed too, so a report is either whole or absent.
    """
    directory = folder / report.status
    directory.mkdir(exist_ok=True)
    target = free_name(directory, name)
    report.stored_as = f"{report.status}/{target.name}"
    (folder / name).rename(target)
    temporary = directory / f".{target.name}{REPORT_SUFFIX}.tmp"
    temporary.write_bytes(report.encode())
    temporary.replace(report_path(target))
    return target


# --- the watcher ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What became of one file."""

    name: str
    status: Status
    report: FileReport | None = None
    note: str = ""

    def line(self) -> str:
        """One console line: names, counts and codes only."""
        name = mask(self.name)
        if self.status == "left":
            return f"  · left     {name}: {mask(self.note)}"
        assert self.report is not None
        report = self.report
        stored = mask(report.stored_as)
        if self.status == "failed":
            reason = mask(report.reason or "")
            reason = reason if len(reason) <= 160 else reason[:157] + "..."
            return f"  ✗ failed   {name} -> {stored}: {report.reason_code}: {reason}"
        sent = report.sent
        assert sent is not None
        problems = ", ".join(f"{code} {n}" for code, n in sorted(sent.problems.items()))
        unreadable = f", {sent.unreadable} unreadable: {problems}" if sent.unreadable else ""
        return (
            f"  ✓ done     {name} -> {stored}: {sent.department}/{sent.layout}, "
            f"{sent.sent} lines to {sent.topic} ({sent.records} records{unreadable})"
        )


@dataclass
class RunSummary:
    done: int = 0
    failed: int = 0
    left: list[str] = field(default_factory=list)
    kafka_unavailable: str | None = None

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "done":
            self.done += 1
        elif outcome.status == "failed":
            self.failed += 1
        else:
            self.left.append(outcome.name)


class KafkaUnavailable(Exception):
    """No producer could be made: the file is fine, Kafka is not. It stays where it is."""


class DropFolder:
    """Polls a drop folder and sends each complete file to its department's topic.

    ``make_producer`` is called when the first file needs sending, and again
    after a Kafka failure (an idempotent producer that failed is not reused).
    """

    def __init__(
        self,
        folder: Path,
        catalog: Catalog,
        make_producer: Callable[[], KafkaProducer],
        *,
        interval: float = 2.0,
        department: str | None = None,
        topic_prefix: str = TOPIC_PREFIX,
        received_at: dt.datetime | None = None,
        echo: Callable[[str], None] = print,
        flush_timeout: float = FLUSH_TIMEOUT_S,
    ) -> None:
        self.folder = folder
        self.catalog = catalog
        self.make_producer = make_producer
        self.interval = interval
        self.department = department
        self.topic_prefix = topic_prefix
        self.received_at = received_at
        self.echo = echo
        self.flush_timeout = flush_timeout
        self.stability = Stability()
        self._producer: KafkaProducer | None = None
        self._stop = threading.Event()
        self._finishing = False  # moving a file and writing its report: never cut short
        self._stuck: dict[str, Seen] = {}  # files that could not be moved: not retried unchanged
        self._kafka_problem: str | None = None

    # -- stopping --

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Stop after the current file (it is finished, not cut)."""
        self._stop.set()

    def on_signal(self, signum: int, _frame: object = None) -> None:
        """SIGINT/SIGTERM: the first finishes the current file, a second abandons it in place."""
        if not self.stopping:
            self.request_stop()
            name = signal.Signals(signum).name
            # Straight to stderr: a buffered print could be interrupted by its own signal.
            os.write(2, f"{name}: stopping after the current file (again to abandon it)\n".encode())
            return
        if not self._finishing:
            raise KeyboardInterrupt

    def close(self, timeout: float | None = None) -> None:
        if self._producer is not None:
            self._producer.close(timeout=timeout)
            self._producer = None

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))

    # -- polling --

    def run(self, once: bool = False) -> RunSummary:
        """Poll until stopped; with ``once``, take what is complete now and return.

        ``once`` polls twice, ``interval`` apart, so the stability rule holds
        there too: a file still being written is left for the next run.
        """
        summary = RunSummary()
        if once:
            self.stability.observe(self.scan())
            self._sleep(self.interval)
        while not self.stopping:
            listing = self.scan()
            taken = self.poll(listing, summary)
            if once:
                if summary.kafka_unavailable:
                    note = "not sent: Kafka is unavailable"
                elif self.stopping:
                    note = "not taken: stopped before it"
                else:
                    note = "still being written: taken once it stops changing"
                for name in sorted(set(listing) - taken):
                    outcome = Outcome(name, "left", note=note)
                    summary.add(outcome)
                    self.echo(outcome.line())
                break
            self._sleep(self.interval)
        return summary

    def scan(self) -> dict[str, Seen]:
        listing = waiting_files(self.folder)
        for name in [n for n, seen in self._stuck.items() if listing.get(n) != seen]:
            del self._stuck[name]  # changed or gone: look at it again
        return {n: s for n, s in listing.items() if n not in self._stuck}

    def poll(self, listing: dict[str, Seen], summary: RunSummary) -> set[str]:
        """Take every stable file of one listing, in name order; the names taken."""
        taken: set[str] = set()
        for name in self.stability.observe(listing):
            if self.stopping:
                break
            try:
                outcome = self.take(name, listing[name])
            except KafkaUnavailable as exc:
                summary.kafka_unavailable = str(exc)
                if self._kafka_problem != str(exc):
                    self.echo(f"  · kafka unavailable ({mask(str(exc))}); files stay in place")
                self._kafka_problem = str(exc)
                self.stability.forget(name)
                break
            self._kafka_problem = None
            if outcome is None:
                continue
            taken.add(name)
            summary.add(outcome)
            self.echo(outcome.line())
        return taken

    # -- one file --

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            try:
                self._producer = self.make_producer()
            except kerrors.KafkaError as exc:
                raise KafkaUnavailable(error_text(exc)) from exc
        return self._producer

    def take(self, name: str, seen: Seen) -> Outcome | None:
        """Send one file and file it away; None when it vanished before it could be read."""
        path = self.folder / name
        started = _now()
        received_at = self.received_at or started.replace(microsecond=0)
        report = FileReport(name, "failed", "", started, started, received_at)
        try:
            with path.open("rb") as handle:
                report.sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            report.size = path.stat().st_size
        except FileNotFoundError:
            self.stability.forget(name)
            return None
        except OSError as exc:
            return self._fail(name, seen, report, "unreadable", f"cannot read the file: {exc}")
        try:
            report.department, layout = self.catalog.layout_for(name, self.department)
            report.layout = layout.name
        except MappingError as exc:
            return self._fail(name, seen, report, "no_layout", str(exc))

        send = self._ensure_producer()
        acks = Acks()
        try:
            report.sent = send_file(
                path,
                self.catalog,
                send,
                received_at,
                self.department,
                self.topic_prefix,
                on_sent=acks.track,
            )
            send.flush(timeout=self.flush_timeout)
        except OSError as exc:
            self.close(timeout=0)
            return self._fail(name, seen, report, "unreadable", f"cannot read the file: {exc}")
        except kerrors.KafkaError as exc:
            self.close(timeout=0)
            report.acknowledged = acks.acked
            why = f"{error_text(exc)} ({acks.sent} lines handed to the producer)"
            return self._fail(name, seen, report, "kafka", why)
        sent = report.sent.sent
        answered = acks.wait(sent, timeout=10.0)
        report.acknowledged = acks.acked
        if acks.failed or not answered:
            self.close(timeout=0)
            why = acks.first_error or "no answer from the broker after the flush"
            return self._fail(
                name, seen, report, "kafka", f"{sent - acks.acked} of {sent} lines not taken: {why}"
            )

        try:
            now = path.stat()
        except FileNotFoundError:
            self.stability.forget(name)
            return Outcome(name, "left", note="removed while it was being sent")
        if Seen(now.st_size, now.st_mtime_ns) != seen:
            # Written to while it was sent: it was not complete. Send it again once it is.
            self.stability.forget(name)
            return Outcome(name, "left", note="changed while it was being sent; sent again later")
        report.status = "done"
        return self._file_away(name, seen, report)

    def _fail(self, name: str, seen: Seen, report: FileReport, code: str, reason: str) -> Outcome:
        report.status = "failed"
        report.reason_code = code
        report.reason = reason
        return self._file_away(name, seen, report)

    def _file_away(self, name: str, seen: Seen, report: FileReport) -> Outcome:
        report.finished_at = _now()
        self._finishing = True
        try:
            file_away(self.folder, name, report)
        except OSError as exc:
            self._stuck[name] = seen
            return Outcome(name, "left", report, f"could not be moved to {report.status}/: {exc}")
        finally:
            self._finishing = False
        return Outcome(name, report.status, report)
