"""The ``lifeline`` command line.

Each subcommand is a thin shell over the library: it reads config once,
builds the pseudonymiser from the environment and hands typed objects on.
The engine's subcommands (run, simulate, replay) live in cli_engine.py, what
they share in cli_base.py.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from connectors.cli_alerts import alerts
from connectors.cli_base import (
    DEFAULT_CONFIG,
    _department_files,
    _fail,
    _load,
    _pseudonymiser,
    _received_at,
    _write,
    config_option,
    normalise,
)
from connectors.cli_engine import replay_command, run, simulate_command
from connectors.cli_worker import worker_command
from connectors.files import Reject
from connectors.mapping import Catalog
from connectors.summary import IngestSummary
from detectors.catalog import (
    config_version,
    load_detectors,
    load_templates,
)
from engine.config import ConfigError, load_settings
from engine.schemas import CONTRACTS_DIR, published_schemas, render, write_schemas


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Lifeline: streaming anomaly detection for social-assistance monitoring."""


main.add_command(run)
main.add_command(simulate_command)
main.add_command(replay_command)
main.add_command(worker_command)
main.add_command(alerts)


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
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@config_option
@click.option("--department", help="Read every file with this department's mapping.")
@click.option(
    "--bootstrap",
    default=lambda: os.environ.get("LIFELINE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
    show_default="LIFELINE_KAFKA_BOOTSTRAP or 127.0.0.1:19092",
    help="Kafka bootstrap servers.",
)
@click.option("--received-at", help="Arrival time to stamp (ISO 8601; default: now).")
@click.option(
    "--watch",
    "watch_folder",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Watch this drop folder instead: each complete file is sent, then moved to "
    "done/ or failed/ with a report.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="With --watch: seconds between polls of the folder.",
)
@click.option(
    "--once", is_flag=True, help="With --watch: take the complete files there, then exit."
)
@click.option(
    "--topic-prefix",
    show_default="dept.",
    help="Topics are <prefix><department> (another prefix: staging, tests).",
)
def ingest(
    paths: tuple[Path, ...],
    config_dir: Path,
    department: str | None,
    bootstrap: str,
    received_at: str | None,
    watch_folder: Path | None,
    interval: float,
    once: bool,
    topic_prefix: str | None,
) -> None:
    """Send department files, line by line in their raw layout, to their Kafka topics.

    Each line goes to dept.<department> as JSON (file, line, layout, arrival
    time, the raw row); the worker normalises and pseudonymises it. The
    producer is idempotent, batched and compressed.

    With --watch FOLDER, files dropped into FOLDER are taken once complete
    (same size and time on two polls; write name.part and rename it), sent,
    acknowledged, then moved to FOLDER/done/ or FOLDER/failed/ with
    <file>.report.json. Ctrl-C or SIGTERM stops after the current file.
    """
    from connectors.kafka_ingest import TOPIC_PREFIX, ingest_files, producer

    topic_prefix = TOPIC_PREFIX if topic_prefix is None else topic_prefix
    if watch_folder is not None:
        if paths:
            raise click.UsageError("give FILES or --watch FOLDER, not both")
        _watch(
            watch_folder,
            config_dir,
            department,
            bootstrap,
            received_at,
            interval,
            once,
            topic_prefix,
        )
        return
    if not paths:
        raise click.UsageError("give the files (or folders) to send, or --watch FOLDER")
    if once:
        raise click.UsageError("--once goes with --watch FOLDER")

    _, catalog = _load(config_dir)
    send = producer(bootstrap)
    try:
        count = ingest_files(
            _department_files(paths),
            catalog,
            send,
            _received_at(received_at),
            department,
            topic_prefix,
        )
    finally:
        send.close()
    for topic, sent in sorted(count.sent.items()):
        click.echo(f"{topic:<28} {sent:>8} lines")
    click.echo(f"{count.files} files, {count.unreadable} unreadable lines sent with their problem")
    if count.no_layout:
        _fail(f"no layout for: {', '.join(count.no_layout)} (nothing of them was sent)")


def _watch(
    folder: Path,
    config_dir: Path,
    department: str | None,
    bootstrap: str,
    received_at: str | None,
    interval: float,
    once: bool,
    topic_prefix: str,
) -> None:
    """lifeline ingest --watch: the drop folder (connectors/drop_folder.py)."""
    from connectors.drop_folder import DropFolder, mask
    from connectors.kafka_ingest import producer

    _, catalog = _load(config_dir)
    if department is not None and department not in catalog.mappings:
        known = ", ".join(sorted(catalog.mappings))
        _fail(f"--department: unknown department '{department}' (known: {known})")
    drop = DropFolder(
        folder,
        catalog,
        lambda: producer(bootstrap),
        interval=interval,
        department=department,
        topic_prefix=topic_prefix,
        received_at=_received_at(received_at) if received_at else None,
        echo=click.echo,
    )
    previous = {s: signal.signal(s, drop.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    what = "taking the complete files in" if once else f"watching every {interval:g}s"
    click.echo(f"{what} {mask(str(folder))} -> {topic_prefix}<department>")
    try:
        summary = drop.run(once=once)
    except KeyboardInterrupt:
        drop.close(timeout=0)
        click.echo("abandoned the current file: it stays in the drop folder and is sent again")
        sys.exit(130)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    drop.close()
    left = f", {len(summary.left)} left in place" if summary.left else ""
    click.echo(f"{summary.done} done, {summary.failed} failed{left}")
    if summary.kafka_unavailable and once:
        _fail(f"Kafka is unavailable at {bootstrap}: {mask(summary.kafka_unavailable)}")
    if once and summary.failed:
        sys.exit(1)


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
