"""``lifeline worker``: the long-running daemon (connectors/worker.py)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import click

from connectors.cli_base import _fail, _load_engine, _pseudonymiser, config_option
from connectors.connections import ConnectionSettingsError, KafkaConnection, RedisConnection
from connectors.pipeline import Topics


def topic_partitions(
    bootstrap: str, needed: list[str], client: dict[str, Any] | None = None
) -> dict[str, int]:
    """Partitions of each topic the worker uses; a clear error names any that is missing."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        settings = client or {"bootstrap_servers": bootstrap}
        consumer = KafkaConsumer(**settings, request_timeout_ms=15000)
    except KafkaError as exc:
        _fail(f"cannot reach Kafka at {bootstrap}: {type(exc).__name__}")
        raise AssertionError from exc
    try:
        found = {t: len(consumer.partitions_for_topic(t) or ()) for t in needed}
    finally:
        consumer.close()
    missing = sorted(t for t, n in found.items() if n == 0)
    if missing:
        _fail(
            f"topics missing on {bootstrap}: {', '.join(missing)} "
            "(scripts/kafka_ready.py creates those listed in config/kafka-topics.toml)"
        )
    return found


def connections(bootstrap: str, redis_url: str) -> tuple[KafkaConnection, RedisConnection]:
    """Security settings from the environment (docs/security.md); the addresses
    given on the command line win over the environment's."""
    env = {**os.environ, "LIFELINE_KAFKA_BOOTSTRAP": bootstrap, "LIFELINE_REDIS_URL": redis_url}
    try:
        return KafkaConnection.from_env(env), RedisConnection.from_env(env)
    except ConnectionSettingsError as exc:
        _fail(str(exc))
        raise AssertionError from exc


@click.command("worker")
@config_option
@click.option(
    "--bootstrap",
    default=lambda: os.environ.get("LIFELINE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
    show_default="$LIFELINE_KAFKA_BOOTSTRAP or 127.0.0.1:19092",
)
@click.option(
    "--redis",
    "redis_url",
    default=lambda: os.environ.get("LIFELINE_REDIS_URL", "redis://127.0.0.1:16379/0"),
    show_default="$LIFELINE_REDIS_URL or redis://127.0.0.1:16379/0",
)
@click.option("--app-id", default="lifeline", show_default=True,
              help="Consumer group and the namespace of saved positions.")  # fmt: skip
@click.option("--backfill-until", help="Build state from records up to this time without alerting.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--session-timeout", type=click.FloatRange(3, 300), default=30.0, show_default=True,
              help="Seconds before a silent worker's partitions go to another.")  # fmt: skip
@click.option("--web-port", type=click.IntRange(1, 65535), default=6066, show_default=True,
              help="Port of /health and /metrics (on 127.0.0.1).")  # fmt: skip
@click.option("--batch-wait", type=click.FloatRange(0.001, 10), default=0.05, show_default=True,
              help="Seconds a batch waits to fill before it is handled anyway.")  # fmt: skip
@click.option("--settle-after", type=click.FloatRange(0, 86400), default=60.0, show_default=True,
              help="Idle seconds before deciding what is due (0: at the next record).")  # fmt: skip
@click.option("--reload-every", type=click.FloatRange(0.5, 3600), default=5.0, show_default=True,
              help="Seconds between looks at the config files.")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="faust's folder (no Lifeline state) [default: $XDG_CACHE_HOME/lifeline "
                   "or ~/.cache/lifeline]")  # fmt: skip
@click.option("--namespace", default="", help="Prefix of every topic name (tests, tenants).")
@click.option("--key-prefix", default="", help="Prefix of every Redis key (tests, tenants).")
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)  # fmt: skip
def worker_command(
    config_dir: Path,
    bootstrap: str,
    redis_url: str,
    app_id: str,
    backfill_until: str | None,
    batch_size: int,
    batch_wait: float,
    session_timeout: float,
    web_port: int,
    settle_after: float,
    reload_every: float,
    data_dir: Path | None,
    namespace: str,
    key_prefix: str,
    loglevel: str,
) -> None:
    """Consume the department topics, keep state in Redis, publish alerts (until SIGTERM)."""
    pseudonymiser = _pseudonymiser()  # required: the worker never starts without the key
    config, catalog = _load_engine(config_dir)
    from connectors.worker import WorkerOptions, run

    topics = Topics(namespace)
    departments = sorted(catalog.mappings)
    needed = [topics.department(d) for d in departments]
    needed += [topics.events, topics.rejects, topics.alerts, topics.operator]
    needed += [topics.region(r.code) for r in config.settings.regions]
    kafka, redis_connection = connections(bootstrap, redis_url)
    try:  # refuses BROKER_URL and friends, which faust would let override these settings
        broker_settings = kafka.faust_settings()
    except ConnectionSettingsError as exc:
        _fail(str(exc))
        raise AssertionError from exc
    partitions = topic_partitions(bootstrap, needed, kafka.kafka_python_kwargs())
    options = WorkerOptions(
        config_dir=config_dir,
        bootstrap=bootstrap,
        redis_url=redis_url,
        redis_client=tuple(redis_connection.client_kwargs().items()),
        broker_settings=tuple((k, v) for k, v in broker_settings.items() if k != "broker"),
        aiokafka_client=tuple(kafka.aiokafka_kwargs().items()),
        app_id=app_id,
        partitions=partitions[topics.events],
        backfill_until=backfill_until,
        batch_size=batch_size,
        batch_within=batch_wait,
        session_timeout=session_timeout,
        web_port=web_port,
        settle_after=settle_after,
        reload_every=reload_every,
        departments=tuple(departments),
        namespace=namespace,
        key_prefix=key_prefix,
    )
    if data_dir is not None:
        options = dataclasses.replace(options, data_dir=data_dir)
    run(options, pseudonymiser, loglevel)
