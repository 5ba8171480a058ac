"""Department files through the engine, in the order and at the times they arrived.

A replay is deterministic: each file's records are stamped with the file's
arrival time, from ``arrivals.jsonl`` beside the files when there is one
(simulated worlds write it), otherwise inferred from the date in the file
name. The engine's clock is those arrival times, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog
from connectors.summary import IngestSummary
from engine.alert import Alert
from engine.engine import Engine, OperatorAlert
from engine.events import CST, Event
from engine.identity import Pseudonymiser

MANIFEST = "arrivals.jsonl"
MONTHLY_LAG_DAYS = 10  # a monthly file, without a manifest, arrives this long after its month


@dataclass(frozen=True, order=True)
class Delivery:
    received_at: dt.datetime
    order: int  # end-of-batch files after the data they close, on the same day
    path: Path


def _inferred_arrival(path: Path) -> tuple[dt.datetime, int]:
    name = path.name
    order = 1 if name.startswith("eob_") else 0
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
            for number, line in enumerate(manifest.read_bytes().splitlines()):
                if line.strip():
                    entry = orjson.loads(line)
                    moment = dt.datetime.fromisoformat(entry["received_at"])
                    deliveries.append(Delivery(moment, number, base / entry["file"]))
            return deliveries
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
) -> ReplaySummary:
    """Each file through the connectors, its events through the engine as one batch."""
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
        summary.events += len(batch)
        result = engine.process(batch)
        summary.counts.update(result.counts)
        summary.operator.extend(result.operator)
        for alert in result.alerts:
            summary.alerts.append(alert)
            if on_alert:
                on_alert(alert)
    return summary
