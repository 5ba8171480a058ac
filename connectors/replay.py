"""Department files through the engine, in the order and at the times they arrived.

A replay is deterministic: each file's records are stamped with the file's
arrival time, from ``arrivals.jsonl`` beside the files when there is one
(simulated worlds write it), otherwise inferred from the date in the file
name. The engine's clock is those arrival times, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import re
import resource
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from connectors.arrival_order import file_rank
from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog
from connectors.summary import IngestSummary
from engine.alert import Alert
from engine.engine import Engine, OperatorAlert, StepResult
from engine.events import CST, Event, EventError, decode_event
from engine.identity import Pseudonymiser
from engine.store import MemoryStore

MANIFEST = "arrivals.jsonl"
MONTHLY_LAG_DAYS = 10  # a monthly file, without a manifest, arrives this long after its month


@dataclass(frozen=True, order=True)
class Delivery:
    received_at: dt.datetime
    # Among one arrival time's files: end-of-batch files after the data they close,
    # then by name, as the worker orders their lines (connectors.arrival_order).
    order: tuple[int, str]
    path: Path


def _inferred_arrival(path: Path) -> tuple[dt.datetime, tuple[int, str]]:
    name = path.name
    order = file_rank(name)
    if match := re.search(r"(20\d{2})(\d{2})(\d{2})(?!\d)", name):
        day = dt.date(int(match[1]), int(match[2]), int(match[3])) + dt.timedelta(days=1)
    elif match := re.search(r"(20\d{2})-?(\d{2})(?!\d)", name):
        year, month = int(match[1]), int(match[2])
        day = dt.date(year + month // 12, month % 12 + 1, 1) + dt.timedelta(days=MONTHLY_LAG_DAYS)
    else:
        moment = dt.datetime.fromtimestamp(path.stat().st_mtime, CST).replace(microsecond=0)
        return moment, order
    return dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=CST), order


def plan_deliveries(folder: Path) -> list[Delivery]:
    """Every department file under ``folder`` with its arrival time, in arrival order."""
    for manifest in (folder / MANIFEST, folder.parent / MANIFEST):
        if manifest.exists():
            base = manifest.parent
            deliveries = []
            for line in manifest.read_bytes().splitlines():
                if line.strip():
                    entry = orjson.loads(line)
                    moment = dt.datetime.fromisoformat(entry["received_at"])
                    path = base / entry["file"]
                    deliveries.append(Delivery(moment, file_rank(path.name), path))
            return sorted(deliveries)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(Delivery(*_inferred_arrival(p), p) for p in files)


@dataclass
class ReplaySummary:
    files: int = 0
    events: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    alerts: list[Alert] = field(default_factory=list)
    operator: list[OperatorAlert] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def absorb(
        self, batch: list[Event], result: StepResult, on_alert: Callable[[Alert], None] | None
    ) -> None:
        """Count one engine step of ``batch`` and pass its alerts on."""
        self.events += len(batch)
        self.counts.update(result.counts)
        self.operator.extend(result.operator)
        for alert in result.alerts:
            self.alerts.append(alert)
            if on_alert:
                on_alert(alert)

    def by(self, *fields: str) -> Counter[tuple[str, ...]]:
        """Latest revision of each alert, counted by the given alert fields."""
        latest: dict[str, Alert] = {}
        for alert in self.alerts:
            latest[alert.alert_id] = alert
        return Counter(
            tuple(str(getattr(a, f)) for f in fields)
            for a in latest.values()
            if a.status in ("raised", "updated")
        )


def replay(
    deliveries: Iterable[Delivery],
    catalog: Catalog,
    pseudonymiser: Pseudonymiser,
    engine: Engine,
    *,
    ingest: IngestSummary | None = None,
    on_file: Callable[[Delivery], None] | None = None,
    on_item: Callable[[Event | Reject, str], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    settle: bool = True,
) -> ReplaySummary:
    """Each file through the connectors, its events through the engine as one batch.

    With ``settle``, what is due at the last arrival time is decided at the
    end; without it, it stays pending as in a worker still waiting for records.
    """
    summary = ReplaySummary()
    for delivery in deliveries:
        if on_file:
            on_file(delivery)
        summary.files += 1
        if ingest is not None:
            ingest.files += 1
        batch: list[Event] = []
        for item in ingest_file(
            delivery.path, catalog, pseudonymiser, received_at=delivery.received_at
        ):
            verdict = ingest.add(item) if ingest is not None else "event"
            if on_item:
                on_item(item, verdict)
            if isinstance(item, Reject):
                summary.rejects[item.reason_code] += 1
            else:
                batch.append(item)
        summary.absorb(batch, engine.process(batch, settle=False), on_alert)
    if settle:
        summary.absorb([], engine.process([], settle=True), on_alert)
    return summary


def replay_events(
    paths: Iterable[Path],
    engine: Engine,
    *,
    batch_size: int = 5000,
    on_batch: Callable[[int], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> ReplaySummary:
    """Normalised event files (contract JSON lines) through the engine, in file order."""
    summary = ReplaySummary()
    batch: list[Event] = []

    def flush() -> None:
        summary.absorb(batch, engine.process(batch, settle=False), on_alert)
        if on_batch:
            on_batch(len(batch))
        batch.clear()

    for path in paths:
        summary.files += 1
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(decode_event(line))
                except EventError as exc:
                    summary.rejects[f"invalid_event ({path.name}:{number}: {exc})"[:120]] += 1
                    continue
                if len(batch) >= batch_size:
                    flush()
    if batch:
        flush()
    summary.absorb([], engine.process([], settle=True), on_alert)
    return summary


@dataclass
class Timed:
    """A replay's summary with what it cost."""

    summary: ReplaySummary
    seconds: float
    config_version: str
    store: MemoryStore

    @property
    def alerts(self) -> list[Alert]:
        return self.summary.alerts

    def report(self) -> dict[str, object]:
        s = self.summary
        standing = s.by("detector", "direction")
        households = sum(len(v) for k, v in self.store.indexes.items() if k.endswith(":households"))
        return {
            "config_version": self.config_version,
            "files": s.files,
            "events": s.events,
            "rejects": dict(sorted(s.rejects.items())),
            "seconds": round(self.seconds, 2),
            "events_per_second": round(s.events / self.seconds) if self.seconds else None,
            "households": households,
            "state_bytes": self.store.size_bytes(),
            "state_bytes_per_household": round(self.store.size_bytes("hh:") / households)
            if households
            else None,
            "peak_rss_mib": peak_memory_mib(),
            "alerts": len({a.alert_id for a in s.alerts}),
            "alert_revisions": len(s.alerts),
            "alerts_by_detector": {f"{k[1]}/{k[0]}": v for k, v in sorted(standing.items())},
            "alerts_by_region": {k[0]: v for k, v in sorted(s.by("region").items())},
            "operator_alerts": len(s.operator),
            "engine": dict(sorted(s.counts.items())),
        }


def peak_memory_mib() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss,
    which a process started from a large parent inherits)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _standing(alerts: list[Alert]) -> dict[tuple[str, str, str], Alert]:
    latest: dict[str, Alert] = {}
    for alert in alerts:
        latest[alert.alert_id] = alert
    return {
        (a.household, a.detector, a.story.month): a
        for a in latest.values()
        if a.status in ("raised", "updated")
    }


def compare(primary: list[Alert], other: list[Alert], other_name: str) -> dict[str, object]:
    """Which alerts the other config would add or remove (by household, detector and month)."""
    mine, theirs = _standing(primary), _standing(other)
    added = sorted(set(theirs) - set(mine))
    removed = sorted(set(mine) - set(theirs))
    return {
        "other_config": other_name,
        "would_appear": len(added),
        "would_disappear": len(removed),
        "appear_by_detector": dict(Counter(k[1] for k in added)),
        "disappear_by_detector": dict(Counter(k[1] for k in removed)),
        "examples_appear": [list(k) for k in added[:10]],
        "examples_disappear": [list(k) for k in removed[:10]],
    }


def render_report(report: Mapping[str, Any]) -> list[str]:
    lines = [
        f"replayed {report['events']} events from {report['files']} files in {report['seconds']} s "
        f"({report['events_per_second']} events/s), config {report['config_version']}",
        f"households {report['households']}, state {report['state_bytes']} bytes "
        f"({report['state_bytes_per_household']} per household), "
        f"peak memory {report['peak_rss_mib']} MiB",
        f"alerts {report['alerts']} ({report['alert_revisions']} revisions), "
        f"operator alerts {report['operator_alerts']}",
    ]
    for name, count in report["alerts_by_detector"].items():
        lines.append(f"  {name:<36} {count:>7}")
    if report["rejects"]:
        lines.append(
            "rejected records: " + ", ".join(f"{k} {v}" for k, v in report["rejects"].items())
        )
    lines += render_quality(report)
    diff = report.get("compare")
    if diff:
        lines.append(
            f"with {diff['other_config']}: {diff['would_appear']} alerts would appear "
            f"{diff['appear_by_detector']}, {diff['would_disappear']} would disappear "
            f"{diff['disappear_by_detector']}"
        )
    return lines


def render_quality(report: Mapping[str, Any]) -> list[str]:
    """The precision and recall table of a report that has one."""
    lines: list[str] = []
    quality = report.get("quality")
    if quality:
        lines.append(f"against {report['labels']}:")
        lines.append(
            f"  {'detector':<22}{'alerts':>8}{'right':>7}{'labels':>8}{'found':>7}"
            f"{'precision':>11}{'recall':>8}{'F1':>7}{'days p50':>10}{'p90':>7}"
        )
        for q in quality.values():
            lines.append(
                f"  {q['detector']:<22}{q['alerts']:>8}{q['right']:>7}"
                f"{q['labels']:>8}{q['found']:>7}"
                f"{q['precision']:>11.3f}{q['recall']:>8.3f}{q['f1']:>7.3f}"
                f"{q['days_to_alert_median'] if q['days_to_alert_median'] is not None else '-':>10}"
                f"{q['days_to_alert_p90'] if q['days_to_alert_p90'] is not None else '-':>7}"
            )
    return lines
