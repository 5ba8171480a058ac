"""What a worker is started with, and the pipeline it builds from it.

Free of faust and of any Kafka client: the engine process
(:mod:`connectors.engine_process`) builds its own pipeline from the same
options without importing either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from connectors.department_topics import DepartmentTopics
from connectors.mapping import Catalog
from connectors.pipeline import Pipeline, Topics
from connectors.redis_store import RedisStore
from detectors.catalog import EngineConfig
from engine.identity import Pseudonymiser

# What a call that reaches Redis raises when Redis cannot be reached: retried.
STORE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


@dataclass(frozen=True)
class WorkerOptions:
    config_dir: Path
    bootstrap: str
    redis_url: str
    app_id: str = "lifeline"
    partitions: int = 8  # of events.by_household (checked against the broker at start)
    backfill_until: str | None = None
    batch_size: int = 2000
    batch_within: float = 0.05  # seconds a batch waits to fill (what a quiet record waits)
    session_timeout: float = 30.0
    web_port: int = 6066
    reload_every: float = 5.0  # seconds between looks at the config files
    settle_after: float = 60.0  # idle seconds before deciding what is due now (0: never)
    departments: tuple[str, ...] = ()
    namespace: str = ""  # prefixes every topic name (tests, tenants sharing a cluster)
    key_prefix: str = ""  # prefixes every Redis key
    broker_settings: tuple[tuple[str, Any], ...] = ()  # extra faust settings (security)
    # aiokafka client arguments with the same security (KafkaConnection.aiokafka_kwargs)
    aiokafka_client: tuple[tuple[str, Any], ...] = ()
    redis_client: tuple[tuple[str, Any], ...] = ()  # redis.Redis arguments (TLS, ACL user)
    # faust's own folder (it keeps no state of ours: positions and state are in Redis)
    data_dir: Path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lifeline"

    def offsets_client(self) -> dict[str, Any]:
        """Arguments of an aiokafka client to the same brokers, as securely as faust's."""
        if self.aiokafka_client:
            return dict(self.aiokafka_client)
        return {"bootstrap_servers": self.bootstrap.split(",")}

    def redis_store(self) -> RedisStore:
        # Timeouts: a Redis that hangs (rather than refusing) is treated as gone.
        timeouts = {"socket_timeout": 30.0, "socket_connect_timeout": 5.0}
        client = (
            redis.Redis(**dict(self.redis_client), **timeouts)
            if self.redis_client
            else redis.Redis.from_url(self.redis_url, **timeouts)
        )
        return RedisStore(client, self.key_prefix)


def build_pipeline(
    options: WorkerOptions, config: EngineConfig, pseudonymiser: Pseudonymiser, store: RedisStore
) -> Pipeline:
    """The worker's pipeline (each process builds its own, over its own Redis client)."""
    topics = Topics(options.namespace)
    catalog = Catalog.load(options.config_dir / "connectors")
    return Pipeline(
        options.app_id,
        config,
        DepartmentTopics(catalog, pseudonymiser, topics.department_prefix),
        store,
        options.partitions,
        backfill_until=options.backfill_until,
        topics=topics,
    )
