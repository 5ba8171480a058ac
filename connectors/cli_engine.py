"""The subcommands that run the engine: ``run``, ``simulate``, ``replay``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path

import click
import orjson

from connectors.cli_base import (
    DEFAULT_SAMPLES,
    REPO_ROOT,
    SIMULATION_START,
    _department_files,
    _fail,
    _load_engine,
    _pseudonymiser,
    _write,
    alert_lines,
    config_option,
    describe,
    describe_alert,
)
from connectors.evaluate import load_world_labels, score
from connectors.files import Reject
from connectors.replay import (
    Delivery,
    Timed,
    compare,
    plan_deliveries,
    render_quality,
    render_report,
    replay,
    replay_events,
)
from connectors.summary import IngestSummary
from engine.alert import Alert
from engine.events import CST, Event
from engine.store import MemoryStore


@click.command()
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


@click.command("simulate")
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


@click.command("replay")
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
