"""Counts of what an ingest produced, for people to read at the end of a run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from connectors.files import Reject
from engine.config import Settings
from engine.events import BatchEnd, Event, RecordUnreadable


@dataclass
class IngestSummary:
    """Events by department and kind, rejects by reason, repeats and corrections."""

    settings: Settings | None = None
    files: int = 0
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    corrections: int = 0
    regions: Counter[str] = field(default_factory=Counter)
    batches: list[tuple[str, str, str, int]] = field(default_factory=list)
    _seen: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, item: Event | Reject) -> str:
        """Count one item; returns 'event', 'duplicate', 'correction' or 'reject'."""
        if isinstance(item, Reject):
            self.rejects[item.reason_code] += 1
            return "reject"
        kind: str = item.__struct_config__.tag  # type: ignore[assignment]
        self.events[(item.department, kind)] += 1
        previous = self._seen.get(item.event_id)
        self._seen[item.event_id] = item.fingerprint
        if isinstance(item, BatchEnd):
            self.batches.append((item.department, item.region, item.month, item.record_count))
        elif self.settings is not None and not isinstance(item, RecordUnreadable):
            # (its reject was counted; its region may be the person's, not the office's)
            self.regions[self.settings.relation_to_monitored(item.region).value] += 1
        if previous is None:
            return "event"
        if previous == item.fingerprint:
            self.duplicates += 1
            return "duplicate"
        self.corrections += 1
        return "correction"

    @property
    def event_count(self) -> int:
        return sum(self.events.values())

    @property
    def reject_count(self) -> int:
        return sum(self.rejects.values())

    def lines(self) -> list[str]:
        out = [
            f"files read: {self.files}",
            f"events: {self.event_count} ({self.duplicates} exact repeats, "
            f"{self.corrections} corrections of earlier records)",
        ]
        for (department, kind), count in sorted(self.events.items()):
            out.append(f"  {department:<20} {kind:<30} {count:>6}")
        out.append(f"rejected records: {self.reject_count}")
        for code, count in sorted(self.rejects.items()):
            out.append(f"  {code:<30} {count:>6}")
        if self.regions:
            # Per household (cross-city, cross-province) needs the roster: the engine counts that.
            out.append(
                "records by the sending office's region, against the nearest monitored county:"
            )
            for relation, count in sorted(self.regions.items()):
                out.append(f"  {relation:<30} {count:>6}")
        if self.batches:
            out.append("end-of-batch markers (department: markers, regions, months):")
            departments = sorted({b[0] for b in self.batches})
            for department in departments:
                mine = [b for b in self.batches if b[0] == department]
                months = sorted({b[2] for b in mine})
                regions = len({b[1] for b in mine})
                span = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"
                out.append(f"  {department:<20} {len(mine):>4} markers, {regions} regions, {span}")
        return out
