"""The real ``lifeline worker`` against a SASL_SSL (SCRAM-SHA-512) broker and a
TLS Redis with an ACL user, configured only through the ``LIFELINE_*``
variables (docs/security.md): the sample department files in, alerts out,
household state in Redis; and, from the broker's log, what the worker's
connections negotiated.

The broker and Redis are the ones tests/integration/secure_services.py starts
(the ``secure`` fixture of test_secure_connections.py, one pair for this module).
"""

from __future__ import annotations

import fnmatch
import inspect
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from connectors.connections import KafkaConnection
from connectors.feed import Feeder, alerts_of, arrivals, read_topic
from connectors.pipeline import Topics, position_key
from connectors.redis_store import RedisStore
from connectors.replay import plan_deliveries
from engine import store as engine_store
from tests.integration.secure_services import REDIS_KEY_PATTERNS, SecureKafka, SecureServices
from tests.integration.test_secure_connections import (
    SCRAM_ON_BROKER,
    secure,  # noqa: F401  (the module's secure Kafka and Redis, as a fixture)
)
from tests.integration.test_worker import standing
from tests.integration.worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    REGIONS,
    ROOT,
    Deployment,
    WorkerProcess,
    household_states,
    reference,
    states_in,
)

pytestmark = pytest.mark.integration

SAMPLES = ROOT / "samples" / "departments"
# Every Kafka client of the test process uses an id with this prefix; the
# broker's request log tells the worker's requests from them by it.
TEST_CLIENT = "secure-worker-test"
MONTH_TIMEOUT_S = 120
BROKER_SOFTWARE = "apache-kafka-java"  # how the broker's own client introduces itself


def worker_topics(topics: Topics) -> dict[str, int]:
    """Every topic the worker needs (it refuses to start when one is missing): partitions."""
    wanted = {topics.department(d): 2 for d in DEPARTMENTS}
    wanted |= {topics.events: 4, topics.rejects: 1, topics.alerts: 2, topics.operator: 1}
    wanted |= {topics.region(r): 1 for r in REGIONS}
    return wanted


def create_topics(conn: KafkaConnection, wanted: dict[str, int]) -> None:
    admin = KafkaAdminClient(
        **conn.kafka_python_kwargs(), client_id=f"{TEST_CLIENT}-admin", request_timeout_ms=30_000
    )
    try:
        admin.create_topics(
            {n: {"num_partitions": p, "replication_factor": 1} for n, p in wanted.items()},
            timeout_ms=30_000,
        )
        admin.wait_for_topics(list(wanted), timeout_ms=30_000)
        assert set(wanted) <= set(admin.list_topics())
    finally:
        admin.close()


def worker_env(services: SecureServices) -> dict[str, str]:
    """The LIFELINE_KAFKA_* and LIFELINE_REDIS_* settings, passwords in files; the
    inline password variables blanked (blank is unset), so that nothing inherited
    from the test's environment can contradict them."""
    return {
        **services.kafka.env(),
        **services.redis.env(),
        "LIFELINE_KAFKA_PASSWORD": "",
        "LIFELINE_REDIS_PASSWORD": "",
    }


def worker_requests(kafka: SecureKafka, mark: int) -> list[dict[str, Any]]:
    """The broker's request log since ``mark`` without the test's own clients,
    the broker's own (its Java client, to its controller) and requests it
    forwards to its controller (logged again, on the controller listener):
    what the worker process asked."""
    return [
        r
        for r in kafka.requests_since(mark)
        if not r["isForwarded"]
        and not r["requestHeader"]["clientId"].startswith(TEST_CLIENT)
        and r["clientInformation"]["softwareName"] != BROKER_SOFTWARE
    ]


def summary(requests: list[dict[str, Any]]) -> Counter[tuple[str, ...]]:
    return Counter(
        (
            r["listener"],
            r["securityProtocol"],
            r["principal"],
            r["requestHeader"]["clientId"],
            r["clientInformation"]["softwareName"],
        )
        for r in requests
    )


def test_acl_key_patterns_cover_every_key_the_worker_uses() -> None:
    """The ACL user of the secure Redis (and docs/security.md) may touch only
    REDIS_KEY_PATTERNS; a key outside them stops the worker with NoPermissionError.
    Every key builder of engine/store.py, and the worker's saved positions."""
    builders = [
        function
        for name, function in inspect.getmembers(engine_store, inspect.isfunction)
        if name.endswith(("_key", "_index")) and function.__module__ == engine_store.__name__
    ]
    assert len(builders) >= 10, [f.__name__ for f in builders]
    keys = {f.__name__: f(*(["x"] * len(inspect.signature(f).parameters))) for f in builders}
    keys["position_key"] = position_key("app", "dept.x", 0)
    uncovered = {
        name: key
        for name, key in keys.items()
        if not any(fnmatch.fnmatchcase(key, pattern) for pattern in REDIS_KEY_PATTERNS)
    }
    assert not uncovered, f"keys outside the Redis ACL's patterns {REDIS_KEY_PATTERNS}: {uncovered}"


@pytest.fixture
def deployment(secure: SecureServices) -> Iterator[Deployment]:  # noqa: F811
    """A fresh namespace of the worker's topics on the secure broker. The Redis
    URL is rediss:// with no credentials: they come from LIFELINE_REDIS_*."""
    d = Deployment(secure.kafka.bootstrap, secure.redis.env()["LIFELINE_REDIS_URL"])
    assert d.redis_url.startswith("rediss://") and "@" not in d.redis_url
    create_topics(secure.kafka.connection(), worker_topics(d.topics))
    yield d  # the broker, Redis and their data go when the module's services stop


def test_worker_over_sasl_ssl_and_tls_redis_end_to_end(
    secure: SecureServices,  # noqa: F811
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    kafka = secure.kafka
    conn = kafka.connection()
    rconn = secure.redis.connection()
    test_kafka = {**conn.kafka_python_kwargs(), "client_id": TEST_CLIENT}
    # The ACL user may only use the project's key patterns (no tenant prefix):
    # the worker's keys go in unprefixed, in a Redis of this module's own.
    worker = WorkerProcess(
        deployment, tmp_path, name="secure", env=worker_env(secure), key_prefix=""
    )
    store = RedisStore(rconn.client(socket_timeout=10, socket_connect_timeout=10), "")
    mark = kafka.log_mark()
    started = time.monotonic()
    worker.start()
    try:
        worker.wait_until_serving(timeout=90)
        feeder = Feeder(
            kafka.bootstrap,
            deployment.topics,
            CATALOG,
            PSEUDONYMISER,
            DEPARTMENTS,
            kafka=test_kafka,
        )
        try:
            for month in arrivals(plan_deliveries(SAMPLES)):
                feeder.send(month)
                try:
                    feeder.wait(store, deployment.app, MONTH_TIMEOUT_S, alive=worker.alive)
                except (TimeoutError, RuntimeError) as exc:
                    pytest.fail(f"{exc}; worker log:\n{worker.log_text()[-4000:]}")
            assert feeder.behind(store, deployment.app) == 0
            lines = feeder.lines
        finally:
            feeder.close()
        status, health = worker.health()  # /health pings the TLS Redis as the ACL user
        assert (status, health["redis"]) == (200, "ok"), health
    finally:
        exit_status = worker.stop()
    seconds = time.monotonic() - started
    log_text = worker.log_text()
    assert exit_status == 0, log_text[-4000:]
    assert lines > 0

    # --- what came out: alerts on the secure broker, state in the TLS Redis ----------
    published = read_topic(kafka.bootstrap, deployment.topics.alerts, kafka=test_kafka)
    alerts = [a for _, a in alerts_of(published)]
    assert alerts, f"no alert on {deployment.topics.alerts}\n{log_text[-4000:]}"
    clean, expected_run = reference(plan_deliveries(SAMPLES), deployment)
    assert standing(alerts) == standing(expected_run.alerts)
    expected = household_states(dict(clean.values))
    assert len(expected) == 40
    client = store.client
    assert client.acl_whoami() == "lifeline"
    stored = {k.decode() for k in client.scan_iter(match="hh:*", count=1000)}
    assert {k for k in stored if not k.endswith(":outbox")} == set(expected)
    assert states_in(store, sorted(expected)) == expected
    client.close()

    # --- what the worker negotiated, from the broker's log ---------------------------
    requests = worker_requests(kafka, mark)
    seen = summary(requests)
    detail = "\n".join(f"  {n:5d} {key}" for key, n in sorted(seen.items()))
    assert requests, f"no request from the worker in the broker log\n{kafka.tail()}"
    # Every one arrived on the SASL_SSL listener, over SASL_SSL, as the SCRAM user:
    # nothing came as PLAINTEXT, or to the (PLAINTEXT) controller listener.
    assert {key[:3] for key in seen} == {("SASL_SSL", "SASL_SSL", f"User:{kafka.username}")}, detail
    # The worker's clients: faust's (aiokafka: group, fetch, produce), kafka-python's
    # (the start-up check that every topic exists) and its own aiokafka client that
    # asks for end offsets (arrival order, and waiting for the household topic), and,
    # sharing the group with other workers, its admin client that asks for the
    # department topics' partitions.
    client_ids = {key[3] for key in seen}
    own = ("faust-", "kafka-python-", "lifeline-offsets", "lifeline-admin")
    assert all(c.startswith(own) for c in client_ids), detail
    assert "lifeline-offsets" in client_ids, detail
    assert any(c.startswith("faust-") for c in client_ids), detail
    assert any(c.startswith("kafka-python-") for c in client_ids), detail
    # The only PLAINTEXT requests were the broker's own, to its controller
    # listener (with those it forwards there for clients, e.g. the worker's
    # CREATE_TOPICS: logged twice, the second time with isForwarded).
    plaintext = summary(
        [
            r
            for r in kafka.requests_since(mark)
            if r["securityProtocol"] != "SASL_SSL" and not r["isForwarded"]
        ]
    )
    assert {(key[0], key[4]) for key in plaintext} <= {("CONTROLLER", BROKER_SOFTWARE)}, plaintext
    apis = {r["requestHeader"]["requestApiKeyName"] for r in requests}
    assert {"METADATA", "JOIN_GROUP", "SYNC_GROUP", "FETCH", "PRODUCE", "HEARTBEAT"} <= apis, apis
    produced_to = {
        t.get("name")
        for r in requests
        if r["requestHeader"]["requestApiKeyName"] == "PRODUCE"
        for t in r["request"].get("topicData", [])
    }
    assert {deployment.topics.events, deployment.topics.alerts} <= produced_to, produced_to
    # Each connection authenticated with SCRAM-SHA-512, and no other way: as
    # many SCRAM-SHA-512 handshakes as completed authentications, at least one
    # per connection of the worker (all opened after the mark; the broker's
    # authenticator log does not name connections, so the test's own count
    # too); no other mechanism, no failed authentication, no failed TLS
    # handshake (what a PLAINTEXT client causes).
    broker_log = kafka.log_since(mark)
    connections = {r["connection"] for r in requests}
    handshakes = broker_log.count(SCRAM_ON_BROKER)
    assert handshakes >= len(connections) > 0, (handshakes, len(connections))
    assert broker_log.count("Authentication complete") == handshakes
    assert broker_log.count("Using SASL mechanism") == handshakes
    assert "Failed authentication" not in broker_log
    assert "SSL handshake failed" not in broker_log
    # The worker's own log: aiokafka says the same, and never that it sent a
    # password in the clear.
    assert "Authenticated as lifeline via SCRAM-SHA-512" in log_text
    assert "in the clear" not in log_text
    assert kafka.password not in log_text and secure.redis.password not in log_text
    print(
        f"\nsecure worker: {lines} lines, {len(alerts)} alert messages, {seconds:.1f} s; "
        f"{len(requests)} worker requests on {len(connections)} connections; "
        f"{handshakes} SCRAM-SHA-512 authentications in all:\n"
        f"{detail}"
    )
