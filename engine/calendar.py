"""When a region's month is decided: end-of-batch records, grace periods, usual volumes.

A month is decided for a monitored county once every closing department has
sent its end-of-batch record for it (from the county's own office, its city's
or its province's), or once the records' own arrival times pass the month's
end by the grace period. A batch that never came, or came far below its usual
size, still lets the month be decided for what rests on presence (spending,
income above the line) but not for what rests on absence (wages that
stopped): it is *incomplete*, and operators are told.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from engine.config import EngineSettings
from engine.timeline import first_day

USUAL_WEIGHT = 0.3  # weight of a new batch in the department's usual count


class Batch(msgspec.Struct, array_like=True):
    department: str
    region: str  # the sending office's region
    month: int
    count: int


class RegionCalendar(msgspec.Struct, array_like=True, omit_defaults=True):
    decided: int = -1  # the last month decided
    first_month: int = -1  # the earliest month with a record for the region
    batches: list[Batch] = []  # end-of-batch records of recent months
    usual: dict[str, float] = {}  # "department/office" -> usual record count
    incomplete: list[int] = []  # decided months still waiting for a (full) batch
    alerts: dict[int, int] = {}  # month -> alerts raised (the cap counts these)


@dataclass(frozen=True)
class Decision:
    month: int
    complete: bool  # every closing department delivered a batch of usual size
    missing: tuple[str, ...]  # departments whose batch is missing or too small


def covers(office: str, county: str) -> bool:
    """Does a batch from ``office``'s region cover the county?

    >>> covers("130126", "130126"), covers("130100", "130126"), covers("130000", "130424")
    (True, True, True)
    >>> covers("130400", "130126")
    False
    """
    if office == county:
        return True
    if office.endswith("0000"):
        return county.startswith(office[:2])
    if office.endswith("00"):
        return county.startswith(office[:4])
    return False


class Calendar:
    """The decisions of one region, over its stored :class:`RegionCalendar`."""

    def __init__(self, region: str, book: RegionCalendar, settings: EngineSettings) -> None:
        self.region = region
        self.book = book
        self.settings = settings

    def note_month(self, month: int) -> None:
        if self.book.first_month < 0 or month < self.book.first_month:
            self.book.first_month = month

    def add_batch(self, department: str, office: str, month: int, count: int) -> bool:
        """Record an end-of-batch; False if it was already known."""
        mark = Batch(department, office, month, count)
        if mark in self.book.batches:
            return False
        self.book.batches = [
            b
            for b in self.book.batches
            if not (b.department, b.region, b.month) == (department, office, month)
        ] + [mark]
        self.note_month(month)
        return True

    def _batch_ok(self, department: str, month: int) -> bool:
        marks = [b for b in self.book.batches if b.department == department and b.month == month]
        if not marks:
            return False
        for mark in marks:
            usual = self.book.usual.get(f"{department}/{mark.region}")
            if usual is not None and mark.count < self.settings.min_batch_share * usual:
                return False
        return True

    def _learn_usual(self, month: int) -> None:
        for mark in self.book.batches:
            if mark.month != month or mark.department not in self.settings.closing_departments:
                continue
            key = f"{mark.department}/{mark.region}"
            usual = self.book.usual.get(key)
            if usual is None or mark.count >= self.settings.min_batch_share * usual:
                # A short batch does not teach what is usual.
                self.book.usual[key] = (
                    float(mark.count)
                    if usual is None
                    else usual + USUAL_WEIGHT * (mark.count - usual)
                )

    def decide(self, watermark_day: int) -> list[Decision]:
        """Months that can be decided now, oldest first, and whether each is complete."""
        decisions = []
        month = self.book.decided + 1 if self.book.decided >= 0 else self.book.first_month
        while month >= 0:
            missing = tuple(
                d for d in self.settings.closing_departments if not self._batch_ok(d, month)
            )
            grace_over = watermark_day >= first_day(month + 1) + self.settings.grace_days
            if missing and not grace_over:
                break
            decisions.append(Decision(month, not missing, missing))
            self._learn_usual(month)
            if missing:
                self.book.incomplete = sorted({*self.book.incomplete, month})
            self.book.decided = month
            month += 1
        return decisions

    def completed_late(self) -> list[int]:
        """Incomplete decided months whose batches have now all arrived."""
        done = [
            m for m in self.book.incomplete
            if all(self._batch_ok(d, m) for d in self.settings.closing_departments)
        ]  # fmt: skip
        self.book.incomplete = [m for m in self.book.incomplete if m not in done]
        return done

    def forget_before(self, month: int) -> None:
        self.book.batches = [b for b in self.book.batches if b.month >= month]
        self.book.alerts = {m: n for m, n in self.book.alerts.items() if m >= month}
        self.book.incomplete = [m for m in self.book.incomplete if m >= month]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RegionCalendar)


def encode_calendar(book: RegionCalendar) -> bytes:
    """The blob, with every collection in a fixed order: equal calendars, equal bytes."""
    book.batches.sort(key=lambda b: (b.month, b.department, b.region))
    book.usual = dict(sorted(book.usual.items()))
    book.alerts = dict(sorted(book.alerts.items()))
    return _encoder.encode(book)


def decode_calendar(blob: bytes | None) -> RegionCalendar:
    return RegionCalendar() if blob is None else _decoder.decode(blob)
