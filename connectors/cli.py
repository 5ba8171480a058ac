"""The ``lifeline`` command line.

Each subcommand is a thin shell over the library: it reads config once,
builds the pseudonymiser from the environment and hands typed objects on.
Console output never shows raw ID numbers, names or amounts; the full
events and rejects go to files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import click
import orjson

from connectors.evaluate import load_world_labels, score
from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog, MappingError
from connectors.replay import (
    Delivery,
    ReplaySummary,
    Timed,
    compare,
    plan_deliveries,
    render_quality,
    render_report,
    replay,
    replay_events,
)
from connectors.secrets import SecretError, pseudonymiser_from_env
from connectors.summary import IngestSummary
from detectors.catalog import (
    EngineConfig,
    config_version,
    load_detectors,
    load_engine_config,
    load_templates,
)
from engine.alert import Alert
from engine.config import ConfigError, Settings, load_settings
from engine.events import CST, Event, encode
from engine.identity import Pseudonymiser
from engine.schemas import CONTRACTS_DIR, published_schemas, render, write_schemas
from engine.store import MemoryStore

REPO_ROOT = Path(__file__).resolve().parents[1]
SIMULATION_START = "2022-09"  # a whole winter inside the 12-month warm-up
DEFAULT_CONFIG = Path(os.environ.get("LIFELINE_CONFIG_DIR", REPO_ROOT / "config"))
DEFAULT_SAMPLES = REPO_ROOT / "samples" / "departments"


def _fail(message: str) -> None:
    click.secho(f"lifeline: {message}", fg="red", err=True)
    sys.exit(2)


def _load_engine(config_dir: Path) -> tuple[EngineConfig, Catalog]:
    try:
        return load_engine_config(config_dir), Catalog.load(config_dir / "connectors")
    except (ConfigError, MappingError) as exc:
        _fail(str(exc))
        raise AssertionError from exc  # unreachable: _fail exits


def _load(config_dir: Path) -> tuple[Settings, Catalog]:
    try:
        return load_settings(config_dir / "lifeline.toml"), Catalog.load(config_dir / "connectors")
    except (ConfigError, MappingError) as exc:
        _fail(str(exc))
        raise AssertionError from exc  # unreachable: _fail exits


def _pseudonymiser() -> Pseudonymiser:
    try:
        return pseudonymiser_from_env()
    except SecretError as exc:
        _fail(str(exc))
        raise AssertionError from exc


def _department_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            )
        else:
            files.append(path)
    return files


def _received_at(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(CST).replace(microsecond=0)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--received-at: not an ISO 8601 date-time: {value!r}")
        raise
    return moment if moment.tzinfo else moment.replace(tzinfo=CST)


def normalise(
    files: list[Path],
    catalog: Catalog,
    pseudonymiser: Pseudonymiser,
    summary: IngestSummary,
    received_at: dt.datetime,
    department: str | None = None,
) -> Iterator[tuple[Event | Reject, str]]:
    """Every item of every file with its summary verdict, counting as it goes."""
    for path in files:
        summary.files += 1
        for item in ingest_file(
            path, catalog, pseudonymiser, received_at=received_at, department=department
        ):
            yield item, summary.add(item)


def describe(item: Event | Reject, verdict: str) -> str:
    """One console line, free of ID numbers, names and amounts."""
    if isinstance(item, Reject):
        where = f"{Path(item.source).name}:{item.position}"
        return f"  ✗ {item.reason_code:<16} {where:<28} {item.reason}"
    kind = item.__struct_config__.tag
    person = getattr(item, "person", None) or getattr(item, "household", "")
    when = getattr(item, "month", None) or item.event_time[:10]
    mark = {"event": "+", "duplicate": "=", "correction": "~"}[verdict]
    note = {
        "event": "",
        "duplicate": "  (repeat, ignored)",
        "correction": "  (corrects an earlier record)",
    }[verdict]
    where = item.source.rsplit("/", 1)[-1]
    return f"  {mark} {kind:<28} {str(person)[:20]:<20} {item.region} {when:<10} {where}{note}"


def describe_alert(alert: Alert) -> str:
    """An alert as a caseworker would read it on a console (reason text, no amounts)."""
    who = (
        f"member {alert.member.position} ({alert.member.relation})" if alert.member else "household"
    )
    head = (
        f"  ⚑ {alert.direction.upper():<6} {alert.detector:<20} {alert.household} {who}, "
        f"{alert.story.month}, {alert.severity}, {alert.status} r{alert.revision}"
    )
    return f"{head}\n      {alert.reason}"


def alert_lines(summary: ReplaySummary) -> list[str]:
    lines = [
        f"alerts: {len({a.alert_id for a in summary.alerts})} ({len(summary.alerts)} revisions)"
    ]
    for (direction, detector), count in sorted(summary.by("direction", "detector").items()):
        lines.append(f"  {direction:<6} {detector:<24} {count:>6}")
    by_region = summary.by("region")
    if by_region:
        lines.append(
            "alerts by region: " + ", ".join(f"{r[0]} {n}" for r, n in sorted(by_region.items()))
        )
    for operator in summary.operator:
        lines.append(f"operator: {operator.message}")
    held = summary.counts.get("held", 0)
    lines.append(
        f"engine: {summary.counts.get('months_decided', 0)} region-months decided, "
        f"{held} records held for persons not (yet) enrolled, "
        f"{summary.counts.get('released', 0)} released on enrolment"
    )
    return lines


def _write(handle: IO[bytes] | None, item: Event | Reject | Alert) -> None:
    if handle is not None:
        handle.write(encode(item) + b"\n")


config_option = click.option(
    "--config",
    "config_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The config folder (lifeline.toml, connectors/).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Lifeline: streaming anomaly detection for social-assistance monitoring."""


@main.command()
@config_option
@click.option(
    "--samples",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help=f"Run these department files instead of a simulated world (bundled: {DEFAULT_SAMPLES}).",
)
@click.option("--households", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--months", type=click.IntRange(14, 120), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("out"),
    show_default=True,
)
@click.option("--quiet", is_flag=True, help="Print only the summary.")
def run(
    config_dir: Path,
    samples: Path | None,
    households: int,
    months: int,
    seed: int,
    out_dir: Path,
    quiet: bool,
) -> None:
    """Run the engine embedded: no Kafka, no Redis, the in-process store.

    By default it simulates a small world (OUT/world: raw department files,
    their arrival times, and labels of the life events in it), runs the files
    through the connectors and the engine in arrival order, prints each alert
    as it fires, and ends with a summary and each detector's precision and
    recall against the world's labels. With --samples it runs the bundled
    sample files instead and prints every event and rejected record too.
    Events, rejects and alerts go to OUT/.
    """
    config, catalog = _load_engine(config_dir)
    pseudonymiser = _pseudonymiser()
    out_dir.mkdir(parents=True, exist_ok=True)
    folder, backfill, labels = samples, None, None
    if samples is None:
        from connectors.simulate import load_simulator_settings, simulate

        world = out_dir / "world"
        facts = simulate(
            load_simulator_settings(REPO_ROOT / "config" / "simulator.toml"),
            households, months, seed, world, SIMULATION_START,
        )  # fmt: skip
        click.echo(
            f"simulated {facts.households} households over {facts.months} months "
            f"({facts.start_month} to {facts.end_month}, seed {seed}): "
            f"{facts.records['total']} records in {facts.files['count']} files, "
            f"{sum(facts.labels.values())} life events -> {world}"
        )
        folder, labels = world / "departments", world / "labels.jsonl"
        backfill = world_warmup_end((folder,))
    assert folder is not None
    deliveries = plan_deliveries(folder)
    ingest = IngestSummary(settings=config.settings)
    engine = config.engine(MemoryStore(), backfill)  # fmt: skip
    click.echo(
        f"lifeline run: config {config.version}, {len(config.detectors)} detectors, "
        f"{len(catalog.mappings)} department mappings, pseudonym key '{pseudonymiser.key_id}', "
        f"{len(deliveries)} files in {folder}, in-process store"
        + (f", history before {backfill[:10]} backfilled (no alerts)" if backfill else "")
    )
    every_record = samples is not None and not quiet
    with (
        (out_dir / "events.jsonl").open("wb") as events,
        (out_dir / "rejects.jsonl").open("wb") as rejects,
        (out_dir / "alerts.jsonl").open("wb") as alerts,
    ):

        def on_file(delivery: Delivery) -> None:
            if every_record:
                arrived = f"{delivery.received_at:%Y-%m-%d %H:%M}"
                click.echo(f"\n{delivery.path.name}  (arrived {arrived})")

        def on_item(item: Event | Reject, verdict: str) -> None:
            _write(rejects if isinstance(item, Reject) else events, item)
            if every_record:
                click.echo(describe(item, verdict))

        def on_alert(alert: Alert) -> None:
            _write(alerts, alert)
            if not quiet:
                click.echo(describe_alert(alert))

        summary = replay(
            deliveries, catalog, pseudonymiser, engine,
            ingest=ingest, on_file=on_file, on_item=on_item, on_alert=on_alert,
        )  # fmt: skip
    click.echo("\nsummary")
    for line in ingest.lines():
        click.echo(f"  {line}")
    for line in alert_lines(summary):
        click.echo(f"  {line}")
    if labels is not None:
        scores = score(summary.alerts, *load_world_labels(labels))
        report = {
            "quality": {n: dataclasses.asdict(q) for n, q in scores.items()},
            "labels": labels,
        }
        for line in render_quality(report):
            click.echo(f"  {line}")
    click.echo(f"\nevents, rejects and alerts written to {out_dir}/")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@config_option
@click.option("--department", help="Read every file with this department's mapping.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="Events as JSON lines ('-': stdout).",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("rejects.jsonl"),
    show_default=True,
)
@click.option("--received-at", help="Arrival time to stamp (ISO 8601; default: now).")
def connect(
    paths: tuple[Path, ...],
    config_dir: Path,
    department: str | None,
    out_path: Path,
    rejects_path: Path,
    received_at: str | None,
) -> None:
    """Normalise department files (or folders of them) into events."""
    settings, catalog = _load(config_dir)
    if department is not None and department not in catalog.mappings:
        known = ", ".join(sorted(catalog.mappings))
        _fail(f"--department: unknown department '{department}' (known: {known})")
    pseudonymiser = _pseudonymiser()
    summary = IngestSummary(settings=settings)
    to_stdout = str(out_path) == "-"
    events = sys.stdout.buffer if to_stdout else out_path.open("wb")
    try:
        with rejects_path.open("wb") as rejects:
            for item, _ in normalise(
                _department_files(paths),
                catalog,
                pseudonymiser,
                summary,
                _received_at(received_at),
                department,
            ):
                _write(rejects if isinstance(item, Reject) else events, item)
    finally:
        if not to_stdout:
            events.close()
    for line in summary.lines():
        click.echo(line, err=True)


@main.command()
@click.option("--write", is_flag=True, help="Regenerate the schema files from the typed structs.")
@click.option("--check", is_flag=True, help="Fail if the committed schema files are stale.")
def contracts(write: bool, check: bool) -> None:
    """Print, write or check the published JSON Schemas (engine/contracts/)."""
    if write:
        for path in write_schemas():
            click.echo(f"wrote {path}")
        return
    if check:
        stale = [
            n
            for n, s in published_schemas().items()
            if not (CONTRACTS_DIR / n).exists() or (CONTRACTS_DIR / n).read_bytes() != render(s)
        ]
        if stale:
            _fail(f"stale contract files: {', '.join(stale)}; run 'lifeline contracts --write'")
        click.echo("contracts are up to date")
        return
    for name in published_schemas():
        click.echo(CONTRACTS_DIR / name)


@main.command("simulate")
@click.option("--households", type=click.IntRange(1, 10_000_000), default=1000, show_default=True)
@click.option("--months", type=click.IntRange(2, 240), default=36, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--start-month",
    default=SIMULATION_START,
    show_default=True,
    help="First month; the default puts a whole winter in the warm-up year.",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option(
    "--config",
    "sim_config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=REPO_ROOT / "config" / "simulator.toml",
    show_default=True,
)
def simulate_command(
    households: int, months: int, seed: int, start_month: str, out_dir: Path, sim_config: Path
) -> None:
    """Write a simulated world: raw department files, their arrivals, and labels.

    OUT/departments/ holds the files in each department's own layout,
    OUT/arrivals.jsonl when each arrived, OUT/labels.jsonl the life events
    injected (the truth for `lifeline replay --labels`), OUT/world.json a summary.
    """
    from connectors.simulate import SimulatorError, load_simulator_settings, simulate

    try:
        settings = load_simulator_settings(sim_config)
    except SimulatorError as exc:
        _fail(str(exc))
        return
    started = time.perf_counter()
    summary = simulate(settings, households, months, seed, out_dir, start_month)
    click.echo(
        f"{summary.households} households, {summary.months} months ({summary.start_month} to "
        f"{summary.end_month}), seed {summary.seed}: {summary.files['count']} files, "
        f"{summary.records['total']} records, {sum(summary.labels.values())} labels "
        f"in {time.perf_counter() - started:.1f} s -> {out_dir}"
    )


@main.command("replay")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@config_option
@click.option(
    "--events", "as_events", is_flag=True, help="INPUTS are normalised event files (JSON lines)."
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Life-event labels: adds precision, recall, F1 and time to alert per detector. "
    "Found automatically as labels.jsonl beside the department folder.",
)
@click.option(
    "--compare",
    "compare_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A second config folder: which alerts it would add or remove.",
)
@click.option(
    "--backfill-until", help="Build state from history up to this time without alerting it."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("out/replay"),
    show_default=True,
)
@click.option(
    "--batch-size", default=5000, show_default=True, help="Events per engine step (--events)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def replay_command(
    inputs: tuple[Path, ...],
    config_dir: Path,
    as_events: bool,
    labels: Path | None,
    compare_dir: Path | None,
    backfill_until: str | None,
    out_dir: Path,
    batch_size: int,
    as_json: bool,
) -> None:
    """Replay department files (a folder) or normalised events through the engine.

    Deterministic: files in their arrival order (arrivals.jsonl, or the dates in
    their names), the records' own times as the clock, the in-process store.
    Writes OUT/alerts.jsonl and OUT/summary.json.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if backfill_until is None:
        backfill_until = world_warmup_end(inputs)
    primary = _replay_once(inputs, config_dir, as_events, backfill_until, batch_size, as_json)
    with (out_dir / "alerts.jsonl").open("wb") as handle:
        for alert in primary.alerts:
            _write(handle, alert)
    report: dict[str, object] = primary.report()
    report["backfill_until"] = backfill_until
    if labels is None:
        labels = next((p for p in _label_candidates(inputs) if p.exists()), None)
    if labels is not None:
        scores = score(primary.alerts, *load_world_labels(labels))
        report["labels"] = str(labels)
        report["quality"] = {name: dataclasses.asdict(s) for name, s in scores.items()}
    if compare_dir is not None:
        other = _replay_once(inputs, compare_dir, as_events, backfill_until, batch_size, True)
        report["compare"] = compare(primary.alerts, other.alerts, str(compare_dir))
    (out_dir / "summary.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    for line in render_report(report):
        click.echo(line)
    click.echo(f"alerts in {out_dir / 'alerts.jsonl'}, summary in {out_dir / 'summary.json'}")


def world_warmup_end(inputs: tuple[Path, ...]) -> str | None:
    """For a simulated world (world.json beside the files): the end of its warm-up.

    Its first months are history that builds baselines; they are backfilled,
    not alerted (pass --backfill-until to choose otherwise).
    """
    for folder in inputs:
        for world in (folder / "world.json", folder.parent / "world.json"):
            if world.exists():
                facts = orjson.loads(world.read_bytes())
                warmup = facts["parameters"]["events"]["warmup_months"]
                first = dt.date.fromisoformat(facts["start_month"] + "-01")
                year, month = divmod(first.month - 1 + warmup, 12)
                end = dt.datetime(first.year + year, month + 1, 1, tzinfo=CST) - dt.timedelta(
                    seconds=1
                )
                return end.isoformat()
    return None


def _label_candidates(inputs: tuple[Path, ...]) -> list[Path]:
    return [p / "labels.jsonl" for p in inputs if p.is_dir()] + [
        p.parent / "labels.jsonl" for p in inputs if p.is_dir()
    ]


def _replay_once(
    inputs: tuple[Path, ...],
    config_dir: Path,
    as_events: bool,
    backfill_until: str | None,
    batch_size: int,
    quiet: bool,
) -> Timed:
    config, catalog = _load_engine(config_dir)
    engine = config.engine(MemoryStore(), backfill_until)
    started = time.perf_counter()
    if as_events:
        files = _department_files(inputs)
        total = sum(p.stat().st_size for p in files)
        with click.progressbar(length=total, label="events", file=sys.stderr, show_eta=True) as bar:
            summary = replay_events(files, engine, batch_size=batch_size)
            bar.update(total)
    else:
        pseudonymiser = _pseudonymiser()
        deliveries = [d for folder in inputs for d in plan_deliveries(folder)]
        with click.progressbar(
            deliveries,
            label="files",
            file=sys.stderr,
            show_eta=True,
            hidden=quiet and not sys.stderr.isatty(),
        ) as bar:
            summary = replay(bar, catalog, pseudonymiser, engine)
    elapsed = time.perf_counter() - started
    return Timed(summary, elapsed, config.version, engine.store)  # type: ignore[arg-type]


@main.group()
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.argument(
    "path",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_CONFIG,
    required=False,
)
def config_check(path: Path) -> None:
    """Validate every config file in PATH; print each problem, or ok.

    Each file is checked on its own, so one broken file does not hide the
    problems of another. Messages name the file, the key, the value and the
    valid range.
    """
    problems: list[str] = []
    checks = {
        "settings": lambda: load_settings(path / "lifeline.toml"),
        "detectors": lambda: load_detectors(path / "detectors.toml"),
        "templates": lambda: load_templates(path / "templates.toml"),
        "connectors": lambda: Catalog.load(path / "connectors"),
    }
    loaded = {}
    for name, check in checks.items():
        try:
            loaded[name] = check()
        except (ConfigError, OSError) as exc:
            problems.append(str(exc))
    if problems:
        for problem in problems:
            click.secho(f"problem: {problem}", fg="red", err=True)
        sys.exit(1)
    settings = loaded["settings"]
    detectors, _ = loaded["detectors"]
    catalog = loaded["connectors"]
    layouts = sum(len(m.layouts) for m in catalog.mappings.values())
    version = config_version(path, settings.config_version)
    click.echo(
        f"ok: config {version}: {len(settings.regions)} regions, {len(detectors)} detectors, "
        f"{len(catalog.mappings)} departments, {layouts} layouts"
    )


if __name__ == "__main__":
    main()
