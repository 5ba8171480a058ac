"""Fixtures for tests that talk to the real Kafka broker and Redis.

Start them with `make services` (scripts/services.sh up). The addresses come
from LIFELINE_KAFKA_BOOTSTRAP / LIFELINE_REDIS_URL, defaulting to the ports
services.sh uses. A service that does not answer FAILS the tests that need it:
a skipped integration suite looks green while proving nothing.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient
from kafka import errors as kerrors

from connectors.simulate import load_simulator_settings, simulate

from .worker_harness import ROOT, Deployment

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"
START_HINT = "start it with `make services` (scripts/services.sh up)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/integration is an integration test, whether or
    # not a module remembered to say so (`-m "not integration"` relies on it).
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.integration)


def unique(name: str) -> str:
    """A name no earlier run used: reruns never see each other's data."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


def _kafka_problem(bootstrap: str) -> str | None:
    """Why Kafka cannot be used at `bootstrap`, or None if a broker answers."""
    # Refused connections are expected when the broker is down; the failure
    # message says it better than kafka-python's ERROR lines.
    kafka_log = logging.getLogger("kafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="lifeline-tests-probe",
            bootstrap_timeout_ms=5_000,
            request_timeout_ms=5_000,
        )
        try:
            brokers = admin.describe_cluster().get("brokers")
        finally:
            admin.close()
    except (kerrors.KafkaError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        kafka_log.setLevel(level)
    return None if brokers else "metadata lists no brokers"


def _redis_problem(url: str) -> str | None:
    """Why Redis cannot be used at `url`, or None if it answers PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return None if client.ping() is True else "no PONG"
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("LIFELINE_KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP)
    problem = _kafka_problem(bootstrap)
    if problem:
        pytest.fail(
            f"Kafka does not answer on {bootstrap} ({problem}); {START_HINT}", pytrace=False
        )
    return bootstrap


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("LIFELINE_REDIS_URL", DEFAULT_REDIS_URL)
    problem = _redis_problem(url)
    if problem:
        pytest.fail(f"Redis does not answer at {url} ({problem}); {START_HINT}", pytrace=False)
    return url


@pytest.fixture
def kafka_admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(
        bootstrap_servers=kafka_bootstrap,
        client_id="lifeline-tests-admin",
        bootstrap_timeout_ms=10_000,
        request_timeout_ms=15_000,
    )
    yield admin
    admin.close()


@pytest.fixture
def new_topic(kafka_admin: KafkaAdminClient) -> Iterator[Callable[..., str]]:
    """Factory: create a fresh topic (unique name), ready to use; deleted after the test."""
    created: list[str] = []

    def make(prefix: str = "it", partitions: int = 1) -> str:
        name = unique(f"test.{prefix}")
        kafka_admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1}},
            timeout_ms=15_000,
        )
        created.append(name)
        # Wait until every partition has a leader, or the first produce may
        # race the topic's creation.
        kafka_admin.wait_for_topics([name], timeout_ms=15_000)
        return name

    yield make
    if created:
        kafka_admin.delete_topics(created, timeout_ms=15_000, raise_errors=False)


@pytest.fixture
def group_id() -> str:
    return unique("test-group")


@pytest.fixture
def deployment(kafka_bootstrap: str, redis_url: str) -> Iterator[Deployment]:
    """A worker's own topics and Redis keys on the shared services (deleted after)."""
    made = Deployment(kafka_bootstrap, redis_url)
    made.create()
    yield made
    made.delete()


def simulated_world(
    factory: pytest.TempPathFactory, households: int, months: int, seed: int
) -> Path:
    """A simulated world's department files and arrivals (config/simulator.toml)."""
    out = factory.mktemp(f"world-{households}x{months}-{seed}")
    simulate(
        load_simulator_settings(ROOT / "config" / "simulator.toml"), households, months, seed, out
    )
    return out
