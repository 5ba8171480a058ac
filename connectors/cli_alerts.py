"""``lifeline alerts``: the commands that read the alerts the engine publishes.

``lifeline alerts tail`` is a caseworker's subscription to their county's
topic; the Kafka side is in alerts_tail.py (imported when the command runs).
"""

from __future__ import annotations

import os

import click

from connectors.cli_base import _fail


@click.group()
def alerts() -> None:
    """Read the alerts the engine publishes."""


@alerts.command("tail")
@click.option(
    "--region",
    metavar="CODE",
    help="Read alerts.<CODE>, this county's alerts (default: the alerts topic, every region).",
)
@click.option(
    "--direction",
    "directions",
    multiple=True,
    type=click.Choice(["help", "review", "data"]),
    help="Only alerts of this direction (repeatable; default: every direction).",
)
@click.option(
    "--from-beginning",
    is_flag=True,
    help="A new group starts at the oldest alert kept (default: only alerts from now on).",
)
@click.option("--json", "as_json", is_flag=True, help="One line of the alert's contract JSON each.")
@click.option(
    "--group",
    help="Consumer group id (default: lifeline-tail-<region>, lifeline-tail-all without one).",
)
@click.option(
    "--bootstrap",
    default=lambda: os.environ.get("LIFELINE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
    show_default="LIFELINE_KAFKA_BOOTSTRAP or 127.0.0.1:19092",
    help="Kafka bootstrap servers.",
)
@click.option("--topic", help="Read this topic instead (a test's or a replay's alert topic).")
@click.option(
    "--max", "max_alerts", type=click.IntRange(min=1), metavar="N", help="Stop after N alerts."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop after this many seconds without a message (default: run until Ctrl-C).",
)
def tail_command(
    region: str | None,
    directions: tuple[str, ...],
    from_beginning: bool,
    as_json: bool,
    group: str | None,
    bootstrap: str,
    topic: str | None,
    max_alerts: int | None,
    timeout: float | None,
) -> None:
    """Follow a county's alerts, as a caseworker: each printed readably, or as JSON lines.

    Subscribes with a consumer group and commits what was printed, so the
    next run goes on from there. Copies of one alert revision are shown once;
    a message that is not an alert is reported on stderr and skipped. Stops
    cleanly (status 0) on Ctrl-C or SIGTERM, after --max alerts or --timeout
    idle seconds.
    """
    from connectors.alerts_tail import (
        DIRECTIONS,
        TailError,
        TailOptions,
        default_group,
        region_code,
        run_tail,
        topic_for,
    )

    try:
        code = region_code(region) if region is not None else None
        options = TailOptions(
            topic=topic or topic_for(code),
            group=group or default_group(code),
            bootstrap=bootstrap,
            from_beginning=from_beginning,
            max_alerts=max_alerts,
            idle_timeout=timeout,
        )
        run_tail(
            options,
            directions=directions or DIRECTIONS,
            region=code,
            as_json=as_json,
            out=click.echo,
            err=lambda line: click.echo(f"lifeline: warning: {line}", err=True),
        )
    except TailError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:  # before the consumer was up: nothing read, nothing to commit
        pass
    except BrokenPipeError:
        # The reader went away (`| head`): what was printed is committed; stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
