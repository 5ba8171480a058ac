"""When and in which file each record arrives, as the departments deliver them.

Interface records arrive within days of their date, household registration
in daily batches the day after, monthly batches some days after the month
ends, each closed by its end-of-batch record that counts what the batch
delivered. Delivery noise happens here: wage records held back for a
supplementary file after the end of batch, rows re-sent in a later file,
corrections, malformed rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from connectors.simulate.model import Calendar, month_end
from connectors.simulate.noise import applicable, reason_code
from connectors.simulate.records import Row
from connectors.simulate.render import LayoutRenderer
from connectors.simulate.settings import LayoutDelivery, SimulatorSettings
from engine.events import CST


@dataclass
class OutFile:
    """One department file: its rows in order and when it arrives."""

    name: str
    key: str  # "department/layout"
    received_at: dt.datetime
    month: dt.date | None  # the batch month it belongs to (None: interface files)
    late: bool = False
    rank: int = 0  # at equal arrival times: data (0) before end-of-batch control files (1)
    rows: list[Row] = field(default_factory=list)
    resent: list[Row] = field(default_factory=list)  # re-sent rows and corrections, at the end
    closing: list[Row] = field(default_factory=list)  # inline end-of-batch rows, last

    def all_rows(self) -> list[Row]:
        return self.rows + self.resent + self.closing


@dataclass
class Batch:
    """One department's batch for one month: its files and its end-of-batch counts."""

    end_of_batch: str
    month: dt.date
    files: list[OutFile]
    eob_file: OutFile | None = None
    counts: dict[str, int] = field(default_factory=dict)


class Delivery:
    """Puts rows into files, applies delivery noise, closes batches."""

    def __init__(self, rng: random.Random, settings: SimulatorSettings, calendar: Calendar) -> None:
        self.rng = rng
        self.settings = settings
        self.params = settings.params
        self.calendar = calendar
        self.files: dict[str, OutFile] = {}
        self.batches: list[Batch] = []
        self.renderers: dict[str, LayoutRenderer] = {}
        for key, delivery in sorted(self.params.layouts.items()):
            _, layout = settings.layout(key)
            self.renderers[key] = LayoutRenderer(layout, delivery.extra_columns)
        self.noise: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.malformed_by_department: Counter[str] = Counter()
        self._delays: dict[tuple[str, int], int] = {}
        self.end = month_end(calendar.month(calendar.months - 1))
        self._targets: dict[tuple[str, dt.date], OutFile] = {}

    # --- files -------------------------------------------------------------------

    def _name(self, key: str, day: dt.date, suffix: str = "") -> str:
        _, layout = self.settings.layout(key)
        stem = day.strftime(self.params.layouts[key].stem) + suffix
        return layout.files[0].replace("*", stem)

    def _file(
        self, key: str, day: dt.date, received: dt.datetime, month: dt.date | None, **kw: Any
    ) -> OutFile:
        name = self._name(key, day, kw.pop("suffix", ""))
        found = self.files.get(name)
        if found is None:
            found = self.files[name] = OutFile(name, key, received, month, **kw)
        return found

    def _at(self, day: dt.date, delivery: LayoutDelivery) -> dt.datetime:
        return dt.datetime.combine(day, delivery.clock, tzinfo=CST)

    def _target(self, row: Row, delivery: LayoutDelivery) -> OutFile:
        """The file that delivers a row: by its month, its day, or a drawn delivery day."""
        if delivery.cadence == "interface":
            day = row.day + dt.timedelta(days=self.rng.randint(*delivery.delay_days))
            return self._file(row.layout, day, self._at(day, delivery), None)
        cached = self._targets.get((row.layout, row.day))
        if cached is not None:
            return cached
        if delivery.cadence == "monthly":
            month = row.day.replace(day=1)
            day = self._batch_day(row.layout, self.calendar.index(month))
            target = self._file(row.layout, month, self._at(day, delivery), month)
        else:
            day = row.day + dt.timedelta(days=delivery.delay_days[0])
            target = self._file(row.layout, day, self._at(day, delivery), row.day.replace(day=1))
        self._targets[(row.layout, row.day)] = target
        return target

    def _batch_day(self, key: str, index: int) -> dt.date:
        """The day a monthly batch is delivered (one draw per batch group and month)."""
        delivery = self.params.layouts[key]
        group = delivery.end_of_batch or key
        if (group, index) not in self._delays:
            self._delays[(group, index)] = self.rng.randint(*delivery.delay_days)
        return month_end(self.calendar.month(index)) + dt.timedelta(
            days=self._delays[(group, index)]
        )

    def place(self, rows: list[Row]) -> None:
        """Every row into the file that delivers it; regular monthly files exist even if empty."""
        for key, delivery in sorted(self.params.layouts.items()):
            if delivery.cadence == "monthly":
                for index in range(self.calendar.months):
                    month = self.calendar.month(index)
                    day = self._batch_day(key, index)
                    self._file(key, month, self._at(day, delivery), month)
            if delivery.cadence == "daily":
                for index in range(self.calendar.months):
                    month = self.calendar.month(index)
                    day = month_end(month) + dt.timedelta(days=delivery.delay_days[0])
                    self._file(key, day, self._at(day, delivery), month)
        for row in rows:
            if row.day > self.end:
                self.noise["records_after_the_run"] += 1
                continue
            self._target(row, self.params.layouts[row.layout]).rows.append(row)
        for out in self.files.values():
            out.rows.sort(key=lambda r: (r.kind, tuple(str(x) for x in r.order)))

    # --- noise -----------------------------------------------------------------------

    def hold_back_late(self) -> None:
        """Wage records delivered in a supplementary file after their batch was closed."""
        share = self.params.noise.late_wage_share
        for out in sorted(self.files.values(), key=lambda f: f.name):
            delivery = self.params.layouts[out.key]
            if not delivery.late_kinds or out.month is None or out.late:
                continue
            eob = self.params.layouts[delivery.end_of_batch or out.key]
            closed = self._at(out.received_at.date(), eob)
            kept: list[Row] = []
            late: list[Row] = []
            for row in out.rows:
                target = (
                    late if row.kind in delivery.late_kinds and self.rng.random() < share else kept
                )
                target.append(row)
            if not late:
                continue
            out.rows = kept
            day = closed.date() + dt.timedelta(days=self.rng.randint(*delivery.late_delay_days))
            extra = self._file(
                out.key, out.month, self._at(day, delivery), out.month, late=True, suffix="_late1"
            )
            extra.rows.extend(late)
            self.noise["late_records"] += len(late)
            self.noise["late_wage_records"] += sum(1 for r in late if r.kind == "income.wage")

    def break_rows(self) -> None:
        """Malformed rows, spread over every department (never a label's evidence)."""
        noise = self.params.noise
        skip = set(noise.malformed_skip_kinds)
        for out in self._ordered():
            renderer = self.renderers[out.key]
            for row in out.rows:
                if row.label is not None or row.kind in skip or row.kind == "batch.end":
                    continue
                if self.rng.random() >= noise.malformed_share:
                    continue
                choices = applicable(renderer, row.kind, list(noise.malformed_reasons))
                if choices:
                    row.malformed = self.rng.choice(choices)
                    self.malformed[reason_code(row.malformed, renderer)] += 1
                    self.malformed_by_department[out.key.split("/")[0]] += 1

    def resend(self) -> None:
        """Exact re-sends (same key, same values) and corrections (same key, new amount)."""
        noise = self.params.noise
        regular: dict[str, list[OutFile]] = defaultdict(list)
        for out in self._ordered():
            if not out.late and out.rank == 0:
                regular[out.key].append(out)
        for files in regular.values():
            for position, out in enumerate(files[:-1]):
                following = files[position + 1]
                for row in list(out.rows):
                    if row.malformed or row.kind == "batch.end":
                        continue
                    draw = self.rng.random()
                    if draw < noise.duplicate_share:
                        following.resent.append(row)
                        self.noise["duplicates"] += 1
                    elif (
                        draw < noise.duplicate_share + noise.correction_share
                        and row.kind in noise.correction_kinds
                        and row.label is None
                        and "amount" in row.values
                    ):
                        fixed = dataclasses.replace(row, substitute={})
                        wrong = round(
                            row.values["amount"] * self.rng.choice((0.9, 0.95, 1.05, 1.1))
                        )
                        row.substitute = {"amount": float(wrong)}
                        following.resent.append(fixed)
                        self.noise["corrections"] += 1

    # --- end of batch ------------------------------------------------------------------

    def close_batches(self) -> None:
        """One end-of-batch record per region and month, counting what the batch delivered."""
        groups: dict[str, list[str]] = defaultdict(list)
        for key, delivery in sorted(self.params.layouts.items()):
            if delivery.end_of_batch:
                groups[delivery.end_of_batch].append(key)
        monitored = [r.code for r in self.settings.engine.regions]
        for eob_key, members in sorted(groups.items()):
            eob_delivery = self.params.layouts[eob_key]
            _, eob_layout = self.settings.layout(eob_key)
            for index in range(self.calendar.months):
                month = self.calendar.month(index)
                files = sorted(
                    (f for f in self.files.values()
                     if f.key in members and f.month == month and not f.late),
                    key=lambda f: (f.received_at, f.name),
                )  # fmt: skip
                counts: Counter[str] = Counter(
                    str(r.values["region"]) for f in files for r in f.rows + f.resent
                )
                # An office whose records for the month all come late still closes it (0).
                held_back = (
                    f
                    for f in self.files.values()
                    if f.key in members and f.month == month and f.late
                )
                counts.update({str(r.values["region"]): 0 for f in held_back for r in f.rows})
                if eob_layout.channel != "exchange":
                    counts.update({code: 0 for code in monitored})
                last = files[-1] if files else None
                if eob_key in members:
                    assert last is not None
                    target, closed = last, last.received_at
                else:
                    closed = self._at(self._batch_day(members[0], index), eob_delivery)
                    target = self._file(eob_key, month, closed, month, rank=1)
                for region in sorted(counts):
                    values = {
                        "region": region,
                        "month": month.strftime("%Y-%m"),
                        "event_time": closed.replace(tzinfo=None),
                        "record_count": counts[region],
                    }
                    row = Row(eob_key, "batch.end", values, {}, closed.date(), (region,))
                    (target.closing if target is last else target.rows).append(row)
                self.batches.append(
                    Batch(eob_key, month, files, target, dict(sorted(counts.items())))
                )

    # --- order ---------------------------------------------------------------------------

    def _ordered(self) -> list[OutFile]:
        return sorted(self.files.values(), key=lambda f: (f.received_at, f.rank, f.name))

    def ordered(self) -> list[OutFile]:
        """The files that hold something, in delivery order."""
        return [f for f in self._ordered() if f.all_rows() or self.renderers[f.key].is_csv]

    def reveal(self) -> None:
        """For each label: the arrival of the record that reveals it (all groups arrived)."""
        seen: dict[int, dict[int, tuple[dt.datetime, str]]] = {}
        labels = {}
        for out in self.ordered():
            for row in out.all_rows():
                if row.label is None:
                    continue
                groups = seen.setdefault(id(row.label), {})
                labels[id(row.label)] = row.label
                groups.setdefault(row.group, (out.received_at, out.name))
        for ident, groups in seen.items():
            label = labels[ident]
            if len(groups) == label.groups:
                label.revealed = max(groups.values())
