"""Kafka over SASL_SSL with SCRAM-SHA-512 and Redis over TLS with an ACL user,
end to end through connectors/connections.py, against a broker and a Redis
this module starts (tests/integration/secure_services.py: certificates and
users made on the spot, torn down at the end).

What the clients really negotiate is checked on the server side: the broker
logs the SASL mechanism each connection asks for and, for every request, its
security protocol, listener and principal; the negative tests show that a
PLAINTEXT client, TLS without SASL, the PLAIN mechanism, faust's default SASL
credentials, a wrong password and an unknown CA are all refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiokafka
import pytest
import redis
from aiokafka import errors as aerrors
from aiokafka.conn import create_conn
from aiokafka.protocol.metadata import MetadataRequest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import errors as kerrors
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.connections import KafkaConnection, RedisConnection
from tests.integration.secure_services import (
    ROOT,
    SecureKafka,
    SecureServices,
    ServiceStartError,
    secure_services,
)

pytestmark = pytest.mark.integration

# redis-py 8 retries connection errors, AuthenticationError included, three
# times with backoff by default: the refusals below need no retry.
NO_RETRY = {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 3, "socket_timeout": 3}
SCRAM_ON_BROKER = "Using SASL mechanism 'SCRAM-SHA-512' provided by client"
TIMEOUT_S = 20


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureServices]:
    with ExitStack() as stack:
        try:
            services = stack.enter_context(secure_services())
        except ServiceStartError as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:  # outside the except block: the message alone says it
            pytest.fail(f"the secure Kafka/Redis could not be started: {problem}", pytrace=False)
        yield services


@pytest.fixture(scope="module")
def kafka(secure: SecureServices) -> SecureKafka:
    return secure.kafka


@pytest.fixture(scope="module")
def conn(kafka: SecureKafka) -> KafkaConnection:
    return kafka.connection()


def make_topic(conn: KafkaConnection, prefix: str) -> str:
    name = unique(f"test.secure.{prefix}")
    admin = KafkaAdminClient(**conn.kafka_python_kwargs(), client_id="secure-tests-admin")
    try:
        admin.create_topics(
            {name: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=15_000
        )
        admin.wait_for_topics([name], timeout_ms=15_000)
    finally:
        admin.close()
    return name


def first_message(conn: KafkaConnection, topic: str, timeout_s: float) -> bytes | None:
    """The first message of ``topic``, read with kafka-python over SASL_SSL, or
    None if there is none within ``timeout_s``."""
    consumer = KafkaConsumer(
        topic,
        **conn.kafka_python_kwargs(),
        group_id=unique("secure-tests"),
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        for message in consumer:
            return bytes(message.value)
    finally:
        consumer.close()
    return None


def consume_one(conn: KafkaConnection, topic: str, timeout_s: float = TIMEOUT_S) -> bytes:
    value = first_message(conn, topic, timeout_s)
    assert value is not None, f"no message on {topic} within {timeout_s} s"
    return value


def client_requests(kafka: SecureKafka, mark: int, client_prefix: str) -> list[dict[str, Any]]:
    """The broker's log entries for requests from clients whose id starts with
    ``client_prefix``, as received on the client listener (a request the broker
    forwards to its controller is logged again, on the PLAINTEXT controller
    listener, with isForwarded true: those are left out)."""
    return [
        r
        for r in kafka.requests_since(mark)
        if r["requestHeader"]["clientId"].startswith(client_prefix) and not r["isForwarded"]
    ]


def assert_sasl_ssl_scram(
    kafka: SecureKafka, mark: int, client_prefix: str, *apis: str, topic: str | None = None
) -> list[dict[str, Any]]:
    """Every request the client made since ``mark`` came over SASL_SSL as the
    SCRAM user, and the broker saw SCRAM-SHA-512 asked for; ``apis`` were among them."""
    requests = client_requests(kafka, mark, client_prefix)
    assert requests, f"no request from {client_prefix!r} in the broker log\n{kafka.tail()}"
    seen = {(r["securityProtocol"], r["listener"], r["principal"]) for r in requests}
    assert seen == {("SASL_SSL", "SASL_SSL", f"User:{kafka.username}")}, seen
    names = {r["requestHeader"]["requestApiKeyName"] for r in requests}
    assert set(apis) <= names, f"{apis} not all in {sorted(names)}"
    if topic is not None:
        produced = [
            r
            for r in requests
            if r["requestHeader"]["requestApiKeyName"] == "PRODUCE"
            and any(t.get("name") == topic for t in r["request"].get("topicData", []))
        ]
        assert produced, f"no PRODUCE to {topic} from {client_prefix!r} in the broker log"
    log = kafka.log_since(mark)
    assert SCRAM_ON_BROKER in log
    assert "Using SASL mechanism 'PLAIN'" not in log
    return requests


# --- the settings ----------------------------------------------------------------


def test_environment_gives_sasl_ssl_with_scram_sha_512(
    kafka: SecureKafka, conn: KafkaConnection, secure: SecureServices
) -> None:
    assert conn.security_protocol == "SASL_SSL"
    assert conn.sasl_mechanism == "SCRAM-SHA-512"
    assert conn.password == kafka.password  # read from LIFELINE_KAFKA_PASSWORD_FILE
    assert kafka.password not in repr(conn) + str(conn) + conn.describe()
    redis_conn = secure.redis.connection()
    assert redis_conn.tls and redis_conn.username == "lifeline"
    assert secure.redis.password not in repr(redis_conn) + redis_conn.describe()
    # The broker and Redis start quickly enough to run with every `make test`.
    assert secure.startup_seconds < 30, secure.startup_seconds


# --- Kafka: the clients the project uses -------------------------------------------


def test_kafka_python_produce_and_consume(
    kafka: SecureKafka, conn: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    topic = make_topic(conn, "kafka-python")
    mark = kafka.log_mark()
    with caplog.at_level(logging.INFO, logger="kafka"):
        producer = KafkaProducer(**conn.kafka_python_kwargs(), acks="all", client_id="kp-test")
        try:
            producer.send(topic, key=b"k", value=b"over SASL_SSL").get(timeout=TIMEOUT_S)
        finally:
            producer.close()
        assert consume_one(conn, topic) == b"over SASL_SSL"
    # kafka-python says what it negotiated...
    assert "Authenticated as lifeline via SASL / SCRAM-SHA-512" in caplog.text
    # ...and the broker agrees.
    requests = assert_sasl_ssl_scram(kafka, mark, "kp-test", "PRODUCE", topic=topic)
    assert {r["clientInformation"]["softwareName"] for r in requests} == {"kafka-python"}
    consumer_requests = assert_sasl_ssl_scram(kafka, mark, "kafka-python", "FETCH")
    assert consumer_requests


def test_aiokafka_produce_and_consume(
    kafka: SecureKafka, conn: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    topic = make_topic(conn, "aiokafka")
    mark = kafka.log_mark()

    async def round_trip() -> bytes:
        producer = aiokafka.AIOKafkaProducer(**conn.aiokafka_kwargs(), client_id="aio-test")
        await producer.start()
        try:
            client = producer.client
            assert (client._security_protocol, client._sasl_mechanism) == (
                "SASL_SSL",
                "SCRAM-SHA-512",
            )
            await producer.send_and_wait(topic, b"aiokafka over SASL_SSL")
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(
            topic,
            **conn.aiokafka_kwargs(),
            client_id="aio-test-consumer",
            group_id=unique("secure-tests"),
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), TIMEOUT_S)
        finally:
            await consumer.stop()
        return bytes(message.value or b"")

    with caplog.at_level(logging.INFO, logger="aiokafka"):
        assert asyncio.run(round_trip()) == b"aiokafka over SASL_SSL"
    assert "Authenticated as lifeline via SCRAM-SHA-512" in caplog.text
    assert "in the clear" not in caplog.text
    assert_sasl_ssl_scram(kafka, mark, "aio-test", "PRODUCE", topic=topic)
    assert_sasl_ssl_scram(kafka, mark, "aio-test-consumer", "FETCH", "JOIN_GROUP")


def test_faust_settings_make_sasl_ssl_scram(
    kafka: SecureKafka, conn: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    app = faust.App(unique("secure-faust"), **conn.faust_settings(), web_enabled=False)
    # What faust's worker consumer and producer are given (the same function
    # builds both from the app's settings).
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert auth["ssl_context"].check_hostname
    assert kafka.password not in repr(app.conf.broker_credentials)

    topic = make_topic(conn, "faust")
    mark = kafka.log_mark()

    async def send_one() -> None:
        await app.producer.start()
        try:
            client = app.producer._producer.client  # the aiokafka client faust made
            assert (client._security_protocol, client._sasl_mechanism) == (
                "SASL_SSL",
                "SCRAM-SHA-512",
            )
            await app.producer.send_and_wait(
                topic, key=b"k", value=b"from faust", partition=None, timestamp=None, headers=None
            )
        finally:
            await app.producer.stop()

    with caplog.at_level(logging.INFO, logger="aiokafka"):
        asyncio.run(send_one())
    assert "Authenticated as lifeline via SCRAM-SHA-512" in caplog.text
    assert consume_one(conn, topic) == b"from faust"
    assert_sasl_ssl_scram(kafka, mark, "faust", "PRODUCE", topic=topic)


FAUST_WORKER = '''\
"""A minimal faust worker for tests/integration/test_secure_connections.py:
copies each message of $COPY_IN to $COPY_OUT, with the broker settings of
connectors.connections (LIFELINE_KAFKA_*)."""
import os

import faust

from connectors.connections import KafkaConnection

app = faust.App(
    os.environ["COPY_APP_ID"],
    **KafkaConnection.from_env().faust_settings(),
    web_enabled=False,
    datadir=os.environ["COPY_DATADIR"],
    topic_partitions=1,
    topic_replication_factor=1,
)
source = app.topic(os.environ["COPY_IN"], value_serializer="raw")
sink = app.topic(os.environ["COPY_OUT"], value_serializer="raw")


@app.agent(source)
async def copy(stream):
    async for value in stream:
        await sink.send(value=b"copied: " + value)


if __name__ == "__main__":
    app.main()
'''


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_faust_worker_consumes_and_produces_over_sasl_ssl(
    kafka: SecureKafka, conn: KafkaConnection, tmp_path: Path
) -> None:
    """A real faust worker (consumer group, its own topics, an agent that sends)
    configured only through LIFELINE_KAFKA_* and faust_settings()."""
    source, sink = make_topic(conn, "worker-in"), make_topic(conn, "worker-out")
    script = tmp_path / "copy_worker.py"
    script.write_text(FAUST_WORKER, encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LIFELINE_", "BROKER_", "APP_"))
    }
    env |= kafka.env() | {
        "COPY_APP_ID": unique("secure-copy"),
        "COPY_IN": source,
        "COPY_OUT": sink,
        "COPY_DATADIR": str(tmp_path / "faust-data"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    }
    log_path = tmp_path / "worker.log"
    mark = kafka.log_mark()
    producer = KafkaProducer(**conn.kafka_python_kwargs(), acks="all")
    try:
        producer.send(source, value=b"hello").get(timeout=TIMEOUT_S)
    finally:
        producer.close()
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, str(script), "worker", "--loglevel", "info", "--without-web"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        copied = None
        while copied is None and time.monotonic() < deadline and worker.poll() is None:
            copied = first_message(conn, sink, timeout_s=5)
    finally:
        _stop_worker(worker)
    worker_log = log_path.read_text(encoding="utf-8", errors="replace")
    assert copied == b"copied: hello", f"the faust worker copied nothing:\n{worker_log[-3000:]}"
    assert "Authenticated as lifeline via SCRAM-SHA-512" in worker_log
    assert "in the clear" not in worker_log
    assert_sasl_ssl_scram(
        kafka,
        mark,
        "faust",
        "JOIN_GROUP",
        "SYNC_GROUP",
        "FETCH",
        "OFFSET_COMMIT",
        "CREATE_TOPICS",
        "PRODUCE",
        topic=sink,
    )


# --- Kafka: what is refused --------------------------------------------------------


async def _attempt(kafka: SecureKafka, **options: Any) -> None:
    """Connect the way ``options`` say and ask for metadata (raises when refused)."""
    host, port = kafka.host_port
    connection = await asyncio.wait_for(
        create_conn(host, port, request_timeout_ms=5_000, **options), TIMEOUT_S
    )
    try:
        await asyncio.wait_for(connection.send(MetadataRequest([])), TIMEOUT_S)
    finally:
        connection.close()


def _aiokafka_options(conn: KafkaConnection, **changes: Any) -> dict[str, Any]:
    options = conn.aiokafka_kwargs()
    del options["bootstrap_servers"]
    return options | changes


def _broker_says(kafka: SecureKafka, mark: int, text: str) -> bool:
    deadline = time.monotonic() + 5  # the broker logs a moment after closing
    while time.monotonic() < deadline:
        if text in kafka.log_since(mark):
            return True
        time.sleep(0.1)
    return False


def test_the_good_settings_pass_the_same_check(kafka: SecureKafka, conn: KafkaConnection) -> None:
    # The negative tests below change one thing each from these settings.
    mark = kafka.log_mark()
    asyncio.run(_attempt(kafka, **_aiokafka_options(conn)))
    assert _broker_says(kafka, mark, "Authentication complete")
    assert SCRAM_ON_BROKER in kafka.log_since(mark)


def test_plaintext_client_is_refused(kafka: SecureKafka, conn: KafkaConnection) -> None:
    mark = kafka.log_mark()
    with pytest.raises(aerrors.KafkaConnectionError):
        asyncio.run(_attempt(kafka, security_protocol="PLAINTEXT"))
    assert _broker_says(kafka, mark, "(SSL handshake failed)")
    # kafka-python, as the CLI would use it with LIFELINE_KAFKA_SECURITY unset.
    plaintext = KafkaConnection(bootstrap=(kafka.bootstrap,))
    with pytest.raises(kerrors.KafkaError):
        KafkaAdminClient(
            **plaintext.kafka_python_kwargs(), bootstrap_timeout_ms=3_000, request_timeout_ms=3_000
        ).describe_cluster()


def test_tls_without_sasl_is_refused(kafka: SecureKafka, conn: KafkaConnection) -> None:
    mark = kafka.log_mark()
    with pytest.raises(aerrors.KafkaConnectionError):
        asyncio.run(_attempt(kafka, security_protocol="SSL", ssl_context=conn.ssl_context()))
    assert _broker_says(kafka, mark, "Unexpected Kafka request of type METADATA during SASL")


def test_wrong_password_fails_scram_authentication(
    kafka: SecureKafka, conn: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    mark = kafka.log_mark()
    with pytest.raises(aerrors.SaslAuthenticationFailed, match="SCRAM-SHA-512"):
        asyncio.run(_attempt(kafka, **_aiokafka_options(conn, sasl_plain_password="not-it")))
    assert _broker_says(kafka, mark, "invalid credentials with SASL mechanism SCRAM-SHA-512")
    # kafka-python keeps retrying the bootstrap and ends with a timeout, not an
    # authentication error; its log shows SaslAuthenticationFailedError only
    # when it reads the broker's answer before the broker closes the socket
    # (often it just says "socket disconnected"). The broker log is definite.
    mark = kafka.log_mark()
    wrong = dataclasses.replace(conn, password="not-it")
    with caplog.at_level(logging.INFO, logger="kafka"), pytest.raises(kerrors.KafkaError):
        KafkaAdminClient(
            **wrong.kafka_python_kwargs(), bootstrap_timeout_ms=3_000, request_timeout_ms=3_000
        ).describe_cluster()
    assert _broker_says(kafka, mark, "invalid credentials with SASL mechanism SCRAM-SHA-512")
    assert "Authenticated as" not in caplog.text
    assert "not-it" not in caplog.text


def test_plain_mechanism_is_not_offered(kafka: SecureKafka, conn: KafkaConnection) -> None:
    with pytest.raises(aerrors.UnsupportedSaslMechanismError):
        asyncio.run(_attempt(kafka, **_aiokafka_options(conn, sasl_mechanism="PLAIN")))


def test_faust_default_sasl_credentials_would_not_get_in(
    kafka: SecureKafka, conn: KafkaConnection
) -> None:
    """faust.SASLCredentials(username, password) alone means SASL_PLAINTEXT with
    PLAIN (the password in the clear); an App-level ssl_context does not change
    that. This broker refuses it at the TLS handshake, before any password."""
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    naive = faust.App(
        unique("naive"),
        broker=f"kafka://{kafka.bootstrap}",
        broker_credentials=faust.SASLCredentials(username=kafka.username, password=kafka.password),
        ssl_context=conn.ssl_context(),
    )
    auth = dict(credentials_to_aiokafka_auth(naive.conf.broker_credentials, naive.conf.ssl_context))
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")
    assert auth["ssl_context"] is None
    mark = kafka.log_mark()
    with pytest.raises(aerrors.KafkaConnectionError):
        asyncio.run(_attempt(kafka, **auth))
    assert _broker_says(kafka, mark, "(SSL handshake failed)")


def test_broker_certificate_is_verified(kafka: SecureKafka, conn: KafkaConnection) -> None:
    untrusted = dataclasses.replace(conn, ca_file=None)  # the system's CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(_attempt(kafka, **_aiokafka_options(untrusted)))


# --- Redis -------------------------------------------------------------------------


@pytest.fixture
def rconn(secure: SecureServices) -> RedisConnection:
    return secure.redis.connection()


def test_redis_acl_user_over_tls(rconn: RedisConnection) -> None:
    client = rconn.client(socket_connect_timeout=5, socket_timeout=5)
    household = f"hh:{{test-{uuid.uuid4().hex}}}"
    try:
        assert client.acl_whoami() == "lifeline"
        assert client.set(household, b"state") is True
        assert client.get(household) == b"state"
        # What the engine's store does: scripts, transactions, sets.
        script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 else return 0 end"
        assert client.eval(script, 1, household, "state") == 1
        with client.pipeline(transaction=True) as pipe:
            pipe.sadd(f"{household}:outbox", "a1").smembers(f"{household}:outbox")
            assert pipe.execute()[1] == {b"a1"}
        assert client.memory_usage(household) is not None
        # The connection really is TLS, checked against the test CA.
        connection = client.connection_pool.get_connection()
        try:
            sock = connection._sock
            assert isinstance(sock, ssl.SSLSocket)
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
        finally:
            client.connection_pool.release(connection)
        # The ACL: only the project's key patterns, nothing dangerous.
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set(f"other:{uuid.uuid4().hex}", 1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.config_get("*")
    finally:
        client.delete(household, f"{household}:outbox")
        client.close()


def test_redis_plain_tcp_to_the_tls_port_fails(secure: SecureServices) -> None:
    plain = redis.Redis(host=secure.redis.host, port=secure.redis.port, **NO_RETRY)
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            plain.ping()
    finally:
        plain.close()


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), ("default", "anything"), ("lifeline", "not-it")],
    ids=["no-credentials", "default-user", "wrong-password"],
)
def test_redis_refuses_other_users(
    rconn: RedisConnection, username: str | None, password: str | None
) -> None:
    other = dataclasses.replace(rconn, username=username, password=password)
    client = other.client(**NO_RETRY)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            client.ping()
    finally:
        client.close()


def test_redis_certificate_is_verified(rconn: RedisConnection) -> None:
    untrusted = dataclasses.replace(rconn, ca_file=None)  # the system's CAs only
    client = untrusted.client(**NO_RETRY)
    try:
        with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            client.ping()
    finally:
        client.close()
