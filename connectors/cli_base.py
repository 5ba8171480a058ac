"""What the ``lifeline`` subcommands share: config and key loading, console lines.

Console output never shows raw ID numbers, names or amounts; the full events,
rejects and alerts go to files.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import click

from connectors.files import Reject, ingest_file
from connectors.mapping import Catalog, MappingError
from connectors.replay import (
    ReplaySummary,
)
from connectors.secrets import SecretError, pseudonymiser_from_env
from connectors.summary import IngestSummary
from detectors.catalog import (
    EngineConfig,
    load_engine_config,
)
from engine.alert import Alert
from engine.config import ConfigError, Settings, load_settings
from engine.events import CST, Event, encode
from engine.identity import Pseudonymiser

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
