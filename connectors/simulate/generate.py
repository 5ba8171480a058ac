"""One simulated world: build it, inject life events, deliver it, write it down.

:func:`simulate` is the library entry. The same settings, size, seed and
start month give byte-identical output: every random draw comes from a
generator seeded from the seed and a fixed name, nothing reads the clock,
and everything is iterated in a fixed order.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import orjson

# The event modules register their injectors when imported.
from connectors.simulate import events_assets, events_income, events_people  # noqa: F401
from connectors.simulate.background import Background
from connectors.simulate.delivery import Delivery, OutFile
from connectors.simulate.income import assign_seasonal, employer_pools, enrolment_amounts
from connectors.simulate.life_events import Injector
from connectors.simulate.model import Calendar, Household, Label
from connectors.simulate.noise import corrupt
from connectors.simulate.people import IdNumbers
from connectors.simulate.population import Population
from connectors.simulate.records import RecordBook
from connectors.simulate.settings import LIFE_EVENTS, SimulatorSettings

DEPARTMENTS_DIR = "departments"


class WorldSummary(msgspec.Struct, frozen=True):
    """What ``world.json`` says: the world's size, records, labels and noise."""

    seed: int
    households: int
    months: int
    start_month: str
    end_month: str
    population: dict[str, Any]
    records: dict[str, Any]
    files: dict[str, Any]
    labels: dict[str, int]
    noise: dict[str, Any]
    batches: list[dict[str, Any]]
    parameters: dict[str, Any]


def _start(start_month: str) -> dt.date:
    try:
        return dt.datetime.strptime(start_month, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"start_month must be YYYY-MM, got {start_month!r}") from None


def simulate(
    settings: SimulatorSettings,
    households: int,
    months: int,
    seed: int,
    out_dir: Path,
    start_month: str = "2023-01",
) -> WorldSummary:
    """Generate a world of ``households`` over ``months`` and write it under ``out_dir``."""
    if households < 1:
        raise ValueError(f"households must be 1 or more, got {households}")
    if months < 2:
        raise ValueError(f"months must be 2 or more, got {months}")
    params = settings.params
    calendar = Calendar(_start(start_month), months)

    def rng(purpose: str) -> random.Random:
        return random.Random(f"lifeline-simulator:{seed}:{purpose}")

    ids = IdNumbers()
    pools = employer_pools(rng("employers"), params)
    book = RecordBook(settings, calendar)
    population = Population(rng("population"), settings, calendar, pools, ids)
    world = population.initial(households)
    world += population.late(households)
    workers, seasonal = assign_seasonal(rng("seasonal"), params, world)
    amounts = rng("enrolment")
    for household in world:
        book.enrolled(household, *enrolment_amounts(amounts, params, household))
    labels = Injector(rng("events"), params, calendar, book, pools, ids).run(world)
    exits = population.exits(world, book)
    background = Background(rng("background"), params, calendar, book).run(world)

    delivery = Delivery(rng("delivery"), settings, calendar)
    delivery.place(book.rows)
    delivery.hold_back_late()
    delivery.break_rows()
    delivery.resend()
    delivery.close_batches()
    delivery.reveal()

    out_dir.mkdir(parents=True, exist_ok=True)
    files, lines = _write_files(out_dir, settings, delivery, rng("malformed"))
    labels = sorted(labels, key=lambda lb: (lb.date, lb.household.case, lb.event))
    for number, label in enumerate(labels, start=1):
        label.label_id = f"L{number:06d}"
    _write_lines(out_dir / "labels.jsonl", [_label_line(lb) for lb in labels])
    _write_lines(out_dir / "income_sources.jsonl", _income_sources(world, calendar))
    summary = WorldSummary(
        seed=seed,
        households=households,
        months=months,
        start_month=calendar.label(0),
        end_month=calendar.label(months - 1),
        population=_population(world, workers, seasonal, exits),
        records=lines,
        files={"count": len(files), "bytes": sum(files.values())},
        labels={event: sum(1 for lb in labels if lb.event == event) for event in LIFE_EVENTS},
        noise=_noise(delivery, background, workers, seasonal),
        batches=[_batch(b) for b in delivery.batches],
        parameters=msgspec.to_builtins(params),
    )
    encoded = msgspec.json.format(msgspec.json.encode(summary), indent=1)
    (out_dir / "world.json").write_bytes(encoded + b"\n")
    return summary


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _write_files(
    out_dir: Path, settings: SimulatorSettings, delivery: Delivery, rng: random.Random
) -> tuple[dict[str, int], dict[str, Any]]:
    """Render and write every file, and the arrivals manifest; returns sizes and line counts."""
    folder = out_dir / DEPARTMENTS_DIR
    folder.mkdir(exist_ok=True)
    for old in sorted(folder.iterdir()):
        if old.is_file() and any(
            layout.matches(old.name)
            for mapping in settings.catalog.mappings.values()
            for layout in mapping.layouts
        ):
            old.unlink()  # a previous world's file: it would be replayed with this one
    sizes: dict[str, int] = {}
    by_department: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    arrivals = []
    for out in delivery.ordered():
        data = _render(out, delivery, rng)
        (folder / out.name).write_bytes(data)
        sizes[out.name] = len(data)
        for row in out.all_rows():
            by_department[out.key.split("/")[0]] += 1
            by_kind[row.kind] += 1
        entry = {
            "file": f"{DEPARTMENTS_DIR}/{out.name}",
            "received_at": out.received_at.isoformat(),
        }
        arrivals.append(orjson.dumps(entry))
    _write_lines(out_dir / "arrivals.jsonl", arrivals)
    lines = {
        "total": sum(by_department.values()),
        "by_department": dict(sorted(by_department.items())),
        "by_kind": dict(sorted(by_kind.items())),
    }
    return sizes, lines


def _render(out: OutFile, delivery: Delivery, rng: random.Random) -> bytes:
    renderer = delivery.renderers[out.key]
    lines = [renderer.header()] if renderer.is_csv else []
    for row in out.all_rows():
        values = {**row.values, **row.substitute} if row.substitute else row.values
        raw = renderer.render(row.kind, values, row.extras, row.kind_code)
        if row.malformed:
            lines.append(corrupt(row.malformed, renderer, row.kind, raw, rng))
        else:
            lines.append(renderer.line(raw))
    return "".join(line + "\n" for line in lines).encode(renderer.layout.encoding)


def _label_line(label: Label) -> bytes:
    details = dict(label.details)
    revealed = None
    if label.revealed is not None:
        moment, name = label.revealed
        revealed = {"file": f"{DEPARTMENTS_DIR}/{name}", "received_at": moment.isoformat()}
    return orjson.dumps(
        {
            "label_id": label.label_id,
            "household": label.household.case,
            "member_position": label.member.position if label.member else None,
            "event": label.event,
            "date": label.date.isoformat(),
            "month": label.date.strftime("%Y-%m"),
            "details": details,
            "revealed_by": revealed,
        }
    )


def _income_sources(world: list[Household], calendar: Calendar) -> list[bytes]:
    """Every income stream, by household and member place (no ID numbers): for analysts."""
    lines = []
    for household in world:
        for person in household.members:
            for stream in person.streams:
                employer = stream.employer
                lines.append(
                    orjson.dumps(
                        {
                            "household": household.case,
                            "member_position": person.position,
                            "kind": stream.kind,
                            "pension_code": stream.pension_code or None,
                            "employer": employer.code if employer else None,
                            "region": employer.office if employer else household.region,
                            "channel": "exchange" if employer and employer.exchange else "local",
                            "amount": stream.amount,
                            "seasonal": stream.seasonal,
                            "first_month": calendar.label(stream.start),
                            "end_month": calendar.label(stream.end)
                            if stream.end is not None
                            else None,
                            "changes": [[calendar.label(m), a] for m, a in stream.changes],
                        }
                    )
                )
    return lines


def _population(world: list[Household], workers: int, seasonal: int, exits: int) -> dict[str, Any]:
    def count(key: Any) -> dict[str, int]:
        return dict(sorted(Counter(key(h) for h in world).items()))

    streams = [(h, s) for h in world for p in h.members for s in p.streams]
    return {
        "households": len(world),
        "by_scheme": count(lambda h: h.scheme),
        "by_region": count(lambda h: h.region),
        "by_residence": count(lambda h: h.residence),
        "by_size": {
            str(k): v
            for k, v in count(lambda h: len([p for p in h.members if p.joined is None])).items()
        },
        "by_template": count(lambda h: h.template),
        "persons": sum(len(h.members) for h in world),
        "workers_at_start": workers,
        "seasonal_workers": seasonal,
        "exchange_workers": sum(
            1 for _, s in streams if s.employer is not None and s.employer.exchange
        ),
        "pensioners": sum(1 for _, s in streams if s.kind == "pension"),
        "unemployment_recipients": sum(1 for _, s in streams if s.kind == "unemployment"),
        "late_enrolments": sum(1 for h in world if h.late),
        "voluntary_exits": exits,
        "households_with_labels": sum(1 for h in world if h.labels),
    }


def _noise(
    delivery: Delivery, background: Counter[str], workers: int, seasonal: int
) -> dict[str, Any]:
    planned = background["wage_records_planned"] - background["missing_wage_months"]
    return {
        "malformed": dict(sorted(delivery.malformed.items())),
        "malformed_total": sum(delivery.malformed.values()),
        "malformed_by_department": dict(sorted(delivery.malformed_by_department.items())),
        "duplicates": delivery.noise["duplicates"],
        "corrections": delivery.noise["corrections"],
        "late_wage_records": delivery.noise["late_wage_records"],
        "late_wage_share": round(delivery.noise["late_wage_records"] / planned, 4)
        if planned
        else 0,
        "wage_records": planned,
        "missing_wage_months": background["missing_wage_months"],
        "seasonal_workers": seasonal,
        "seasonal_share": round(seasonal / workers, 4) if workers else 0,
        "outpatient_claims": background["outpatient_claims"],
        "minor_disability_certificates": background["minor_disability_certificates"],
        "records_after_the_run": delivery.noise["records_after_the_run"],
    }


def _batch(batch: Any) -> dict[str, Any]:
    return {
        "end_of_batch": batch.end_of_batch,
        "month": batch.month.strftime("%Y-%m"),
        "files": [f"{DEPARTMENTS_DIR}/{f.name}" for f in batch.files],
        "eob_file": f"{DEPARTMENTS_DIR}/{batch.eob_file.name}" if batch.eob_file else None,
        "counts": batch.counts,
    }
