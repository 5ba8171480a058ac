"""Every file a world writes is read by the real connector exactly as the world says."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from pathlib import Path

import orjson

from connectors.mapping import Catalog
from connectors.simulate import SimulatorSettings
from engine.events import BatchEnd, Wage, instant
from tests.simulate.conftest import Ingested, read_jsonl


def test_rejects_are_exactly_the_malformed_rows(world: Ingested) -> None:
    noise = world.summary.noise
    assert Counter(r.reason_code for r in world.rejects) == Counter(noise["malformed"])
    assert len(world.events) + len(world.rejects) == world.lines == world.summary.records["total"]
    # Spread over departments, and about 1% of the rows.
    assert len({r.department for r in world.rejects}) >= 3
    assert 0.005 < len(world.rejects) / world.lines < 0.015
    # Rows of income whose own person and month can be read also say so, from the
    # line of their reject; a wrong check digit or an impossible month says nothing.
    assert world.unreadable
    rejected = {f"{r.source}:{r.position}": r.reason_code for r in world.rejects}
    assert all(rejected.get(u.source) == u.reason for u in world.unreadable)
    assert not {u.reason for u in world.unreadable} & {"id_check_digit", "bad_date"}


def test_every_file_has_a_layout_and_arrives_once(
    world: Ingested, settings: SimulatorSettings
) -> None:
    arrivals = read_jsonl(world.out / "arrivals.jsonl")
    names = [a["file"] for a in arrivals]
    assert len(names) == len(set(names)) == world.summary.files["count"]
    on_disk = sorted(f"departments/{p.name}" for p in (world.out / "departments").iterdir())
    assert sorted(names) == on_disk
    for name in names:
        settings.catalog.layout_for(Path(name).name)  # exactly one layout reads it
    times = [dt.datetime.fromisoformat(a["received_at"]) for a in arrivals]
    assert times == sorted(times)


def _region_counts(path: Path, catalog: Catalog) -> Counter[str]:
    """Data rows of a raw file by their region column, read without the connector."""
    _, layout = catalog.layout_for(path.name)
    column = layout.fields["region"].column
    counts: Counter[str] = Counter()
    text = path.read_text(encoding=layout.encoding)
    if layout.format == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        index = rows[0].index(column)
        for row in rows[1:]:
            kind_column = layout.kind_from.column if layout.kind_from else None
            if kind_column and row[rows[0].index(kind_column)] == "99":
                continue  # the end-of-batch rows themselves
            counts[row[index]] += 1
    else:
        for line in text.splitlines():
            marker = f'"{column}":"'
            start = line.index(marker) + len(marker)
            if '"sjlx":"EOB"' not in line:
                counts[line[start : start + 6]] += 1
    return counts


def test_end_of_batch_counts_what_the_batch_delivered(
    world: Ingested, settings: SimulatorSettings
) -> None:
    batch_ends = {(e.department, e.region, e.month): e for e in world.of_kind("batch.end")}
    assert len(batch_ends) == world.summary.records["by_kind"]["batch.end"]
    for batch in world.summary.batches:
        delivered: Counter[str] = Counter()
        for name in batch["files"]:
            delivered.update(_region_counts(world.out / name, settings.catalog))
        department = batch["end_of_batch"].split("/")[0]
        for region, count in batch["counts"].items():
            assert delivered[region] == count, (batch["end_of_batch"], batch["month"], region)
            event = batch_ends[(department, region, batch["month"])]
            assert isinstance(event, BatchEnd) and event.record_count == count
        assert set(delivered) <= set(batch["counts"])


def test_some_wages_arrive_after_their_month_was_closed(world: Ingested) -> None:
    closed = {
        (e.department, e.region, e.month): instant(e.received_at)
        for e in world.of_kind("batch.end")
    }
    first: dict[str, Wage] = {}
    for event in world.of_kind("income.wage"):
        assert isinstance(event, Wage)
        first.setdefault(event.event_id, event)
    late = [
        e
        for e in first.values()
        if instant(e.received_at) > closed[(e.department, e.region, e.month)]
    ]
    assert len(late) / len(first) >= 0.03
    assert len(late) <= world.summary.noise["late_wage_records"]  # a few late rows are malformed


def test_about_two_percent_are_resent_and_a_few_corrected(world: Ingested) -> None:
    seen: dict[str, str] = {}
    repeats = corrections = 0
    for event in world.events:
        previous = seen.get(event.event_id)
        if previous == event.fingerprint:
            repeats += 1
        elif previous is not None:
            corrections += 1
        seen[event.event_id] = event.fingerprint
    assert repeats == world.summary.noise["duplicates"]
    assert 0.015 <= repeats / len(world.events) <= 0.025
    assert corrections == world.summary.noise["corrections"] > 0


def test_labels_and_sources_name_no_id_numbers(world: Ingested) -> None:
    for name in ("labels.jsonl", "income_sources.jsonl", "world.json"):
        text = (world.out / name).read_text()
        assert not any(len(token) == 18 and token[:17].isdigit() for token in _tokens(text)), name
    assert orjson.loads((world.out / "world.json").read_bytes())["seed"] == world.summary.seed


def _tokens(text: str) -> list[str]:
    out, current = [], ""
    for ch in text:
        if ch.isalnum():
            current += ch
        else:
            out.append(current)
            current = ""
    return [*out, current]
