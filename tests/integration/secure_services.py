"""A Kafka broker that only speaks SASL_SSL with SCRAM-SHA-512 and a Redis that
only speaks TLS with an ACL user, started for a test run in a temporary
directory, with a CA, a server certificate and the users made on the spot.

- Certificates: the ``openssl`` command line (a CA and a server certificate for
  ``127.0.0.1`` and ``localhost``, EC P-256, valid two days).
- Kafka: the jars of scripts/services.sh (``services.sh classpath``), a
  single-node KRaft broker on free ports. Clients and the inter-broker listener
  use SASL_SSL with SCRAM-SHA-512 (the only mechanism enabled); the controller
  listener stays PLAINTEXT on loopback. The SCRAM users are created when the
  storage is formatted (``StorageTool format --add-scram``). The broker logs
  which SASL mechanism each client asked for and, for every request, the
  security protocol, principal and client software (``kafka.request.logger``
  at DEBUG), so tests can check what was really negotiated.
- Redis: ``redis-server --port 0 --tls-port N`` (no plain-TCP port) with an
  ACL file: the ``default`` user is off, the ``lifeline`` user may use the
  project's key patterns and no dangerous command.

Everything is torn down by :meth:`SecureServices.stop`: processes killed by
pid, the directory removed. Start-up problems raise :class:`ServiceStartError`
with the tail of the service's log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.connections import KafkaConnection, RedisConnection

ROOT = Path(__file__).resolve().parents[2]
SERVICES_SH = ROOT / "scripts" / "services.sh"
HOST = "127.0.0.1"
KAFKA_USER = "lifeline"
BROKER_USER = "broker"  # the broker's own inter-broker login
REDIS_USER = "lifeline"
# The project's Redis keys: the engine's (engine/store.py: households and their
# outboxes, persons, pending records, regions and their indexes, models, and per
# scope its clock, pending/redo/outbox indexes and write journal) and the
# worker's saved positions (connectors/pipeline.py). docs/security.md shows the
# same list; tests/integration/test_worker_secure.py checks it covers every key.
REDIS_KEY_PATTERNS = (
    "hh:*",
    "ps:*",
    "pd:*",
    "rg:*",
    "md:*",
    "clock:*",
    "pending:*",
    "redo:*",
    "outbox:*",
    "jr:*",
    "pos:*",
)
KAFKA_READY_TIMEOUT = 45.0
REDIS_READY_TIMEOUT = 10.0
# Quick start over peak speed: a test broker lives for a minute.
JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)


class ServiceStartError(RuntimeError):
    """A secure service could not be set up; the message says why."""


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to port 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], what: str, cwd: Path | None = None, timeout: float = 60) -> str:
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceStartError(f"{what}: {type(exc).__name__}: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise ServiceStartError(f"{what} failed (exit {done.returncode}): {output}")
    return done.stdout


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"  ({path} missing)"
    # Java stack frames say little here; keep the messages.
    kept = [line for line in text if not line.lstrip().startswith(("at ", "... "))]
    return "\n".join("  " + line[:400] for line in kept[-lines:]) or f"  ({path} is empty)"


def _write_secret(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


# --- certificates --------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # the CA certificate (PEM): what clients trust
    cert_file: Path  # the server certificate (PEM), for 127.0.0.1 and localhost
    key_file: Path  # its private key (PKCS#8 PEM, unencrypted)
    keystore_file: Path  # key + certificate in one PEM file (Kafka's PEM keystore)


SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def make_certificates(directory: Path) -> Certificates:
    """A fresh CA and a server certificate it signed, made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    ca_key, ca_file = directory / "ca.key", directory / "ca.pem"
    key_file, csr, cert_file = (
        directory / "server.key",
        directory / "server.csr",
        directory / "server.pem",
    )
    ext = directory / "server.ext"
    ext.write_text(SERVER_EXTENSIONS, encoding="utf-8")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(
        [openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_file),
         "-days", "2", "-subj", "/O=Lifeline tests/CN=Lifeline test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        "openssl: making the CA",
    )  # fmt: skip
    _run(
        [openssl, "req", *ec, "-keyout", str(key_file), "-out", str(csr),
         "-subj", "/O=Lifeline tests/CN=localhost"],
        "openssl: making the server key",
    )  # fmt: skip
    _run(
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_file), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-sha256", "-extfile", str(ext), "-out", str(cert_file)],
        "openssl: signing the server certificate",
    )  # fmt: skip
    _run([openssl, "verify", "-CAfile", str(ca_file), str(cert_file)], "openssl: verify")
    key_text = key_file.read_text(encoding="ascii")
    if "BEGIN PRIVATE KEY" not in key_text:  # Kafka's PEM keystore wants PKCS#8
        raise ServiceStartError(f"openssl wrote {key_file} in a format other than PKCS#8")
    keystore = directory / "server-keystore.pem"
    keystore.write_text(key_text + cert_file.read_text(encoding="ascii"), encoding="ascii")
    for secret_file in (ca_key, key_file, keystore):
        secret_file.chmod(0o600)
    return Certificates(ca_file, cert_file, key_file, keystore)


# --- Kafka ---------------------------------------------------------------------


def kafka_classpath() -> str:
    """The broker's classpath, as scripts/services.sh builds it."""
    classpath = _run([str(SERVICES_SH), "classpath"], "scripts/services.sh classpath").strip()
    if not classpath:
        raise ServiceStartError("scripts/services.sh classpath printed nothing")
    return classpath


def _cluster_id() -> str:
    """What ``StorageTool random-uuid`` prints, without starting a JVM for it."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like options
            return text


BROKER_PROPERTIES = """\
# Written by tests/integration/secure_services.py for one test run.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
controller.listener.names=CONTROLLER

# Clients and the inter-broker traffic: TLS, then SASL with SCRAM-SHA-512 only.
# The controller listener is loopback-only PLAINTEXT.
listeners=SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=SASL_SSL://{host}:{port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required \
username="{broker_user}" password="{broker_password}";

ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={ca_file}
ssl.client.auth=none

log.dirs={data_dir}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.partitions=1
num.network.threads=2
num.io.threads=2
"""

# Like services/kafka/log4j2.yaml, plus the two loggers that show what clients
# negotiate: the SASL mechanism each connection asks for, and each request's
# security protocol, principal and client software.
BROKER_LOG4J = """\
Configuration:
  status: warn
  name: lifeline-secure-test-broker
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: org.apache.kafka.common.security.authenticator.SaslServerAuthenticator
        level: DEBUG
      - name: kafka.request.logger
        level: DEBUG
      - name: org.apache.kafka.common.config.AbstractConfig
        level: WARN
      - name: state.change.logger
        level: WARN
      - name: kafka.cluster.Partition
        level: WARN
      - name: kafka.log.LogManager
        level: WARN
      - name: org.apache.kafka.storage.internals.log
        level: WARN
      - name: org.apache.kafka.controller.ReplicationControlManager
        level: WARN
      - name: org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime
        level: WARN
      - name: kafka.authorizer.logger
        level: WARN
"""

REQUEST_MARK = "Completed request:"


@dataclass
class SecureKafka:
    """The running SASL_SSL broker and everything a test needs to reach it."""

    bootstrap: str
    username: str
    password_file: Path
    ca_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    password: str = field(repr=False)

    def env(self) -> dict[str, str]:
        """The LIFELINE_KAFKA_* environment a production-like deployment would set."""
        return {
            "LIFELINE_KAFKA_BOOTSTRAP": self.bootstrap,
            "LIFELINE_KAFKA_SECURITY": "sasl_ssl",
            "LIFELINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LIFELINE_KAFKA_USERNAME": self.username,
            "LIFELINE_KAFKA_PASSWORD_FILE": str(self.password_file),
            "LIFELINE_KAFKA_CA_FILE": str(self.ca_file),
        }

    def connection(self) -> KafkaConnection:
        return KafkaConnection.from_env(self.env())

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.bootstrap.rpartition(":")
        return host, int(port)

    def log_mark(self) -> int:
        """The log's current size: pass it to :meth:`log_since`."""
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def log_since(self, mark: int = 0) -> str:
        with self.log_file.open("rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", errors="replace")

    def requests_since(self, mark: int = 0) -> list[dict[str, Any]]:
        """The broker's request log entries (one dict per completed request)."""
        found = []
        for line in self.log_since(mark).splitlines():
            start = line.find(REQUEST_MARK)
            if start < 0:
                continue
            text = line[start + len(REQUEST_MARK) :]
            text = text[: text.rfind("}") + 1]
            try:
                found.append(json.loads(text))
            except ValueError:
                continue
        return found

    def tail(self, lines: int = 25) -> str:
        return f"last lines of {self.log_file}:\n{_tail(self.log_file, lines)}"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceStartError("kafka: java not found (Kafka 4 needs Java 17+)")
    return java


def _kafka_answers(kafka: SecureKafka) -> str | None:
    """None when the broker answers a metadata request over SASL_SSL, else why not."""
    from kafka import KafkaAdminClient
    from kafka import errors as kerrors

    kafka_log = logging.getLogger("kafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)  # refused connections while it starts
    try:
        admin = KafkaAdminClient(
            **kafka.connection().kafka_python_kwargs(),
            client_id="secure-services-probe",
            bootstrap_timeout_ms=3_000,
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


def start_secure_kafka(directory: Path, certs: Certificates) -> SecureKafka:
    """Format and start the SASL_SSL broker; returns once it answers over SASL_SSL."""
    directory.mkdir(parents=True, exist_ok=True)
    java = _java()
    classpath = kafka_classpath()
    port, controller_port = free_port(), free_port()
    while controller_port == port:
        controller_port = free_port()
    password = secrets.token_urlsafe(18)
    broker_password = secrets.token_urlsafe(18)
    props = directory / "server.properties"
    props.write_text(
        BROKER_PROPERTIES.format(
            host=HOST,
            port=port,
            controller_port=controller_port,
            broker_user=BROKER_USER,
            broker_password=broker_password,
            keystore=certs.keystore_file,
            ca_file=certs.ca_file,
            data_dir=directory / "data",
        ),
        encoding="utf-8",
    )
    props.chmod(0o600)  # it holds the broker's own SCRAM password
    log4j = directory / "log4j2.yaml"
    log4j.write_text(BROKER_LOG4J, encoding="utf-8")
    log_opt = f"-Dlog4j2.configurationFile={log4j}"

    # The SCRAM credentials go into the metadata log at format time.
    _run(
        [java, *JVM_OPTS, log_opt, "-cp", classpath, "kafka.tools.StorageTool", "format",
         "-t", _cluster_id(), "-c", str(props),
         "--add-scram", f"SCRAM-SHA-512=[name={BROKER_USER},password={broker_password}]",
         "--add-scram", f"SCRAM-SHA-512=[name={KAFKA_USER},password={password}]"],
        "kafka: formatting storage with the SCRAM users",
        cwd=directory,
        timeout=60,
    )  # fmt: skip

    log_file = directory / "broker.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [java, *JVM_OPTS, log_opt, "-cp", classpath, "kafka.Kafka", str(props)],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    kafka = SecureKafka(
        bootstrap=f"{HOST}:{port}",
        username=KAFKA_USER,
        password_file=_write_secret(directory / "kafka-password", password),
        ca_file=certs.ca_file,
        log_file=log_file,
        process=process,
        password=password,
    )
    try:
        _wait_for_kafka(kafka)
    except BaseException:
        _stop_process(process)
        raise
    return kafka


def _wait_for_kafka(kafka: SecureKafka) -> None:
    deadline = time.monotonic() + KAFKA_READY_TIMEOUT
    # The log line first (cheap), then a real SASL_SSL metadata request.
    while "Kafka Server started" not in kafka.log_since():
        if kafka.process.poll() is not None:
            raise ServiceStartError(
                f"kafka: the broker exited with {kafka.process.returncode}\n{kafka.tail()}"
            )
        if time.monotonic() > deadline:
            raise ServiceStartError(
                f"kafka: not started within {KAFKA_READY_TIMEOUT:.0f} s\n{kafka.tail()}"
            )
        time.sleep(0.1)
    problem: str | None = "not tried"
    while time.monotonic() < deadline:
        problem = _kafka_answers(kafka)
        if problem is None:
            return
        if kafka.process.poll() is not None:
            break
        time.sleep(0.2)
    raise ServiceStartError(
        f"kafka: the broker started but does not answer over SASL_SSL on {kafka.bootstrap} "
        f"({problem})\n{kafka.tail()}"
    )


# --- Redis ---------------------------------------------------------------------


@dataclass
class SecureRedis:
    """The running TLS-only Redis with its ACL user."""

    host: str
    port: int
    username: str
    password_file: Path
    ca_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    password: str = field(repr=False)

    def env(self) -> dict[str, str]:
        """The LIFELINE_REDIS_* environment a production-like deployment would set."""
        return {
            "LIFELINE_REDIS_URL": f"rediss://{self.host}:{self.port}/0",
            "LIFELINE_REDIS_USERNAME": self.username,
            "LIFELINE_REDIS_PASSWORD_FILE": str(self.password_file),
            "LIFELINE_REDIS_CA_FILE": str(self.ca_file),
        }

    def connection(self) -> RedisConnection:
        return RedisConnection.from_env(self.env())

    def tail(self, lines: int = 25) -> str:
        return f"last lines of {self.log_file}:\n{_tail(self.log_file, lines)}"


def redis_acl(username: str, password: str) -> str:
    """An ACL file: ``default`` off; the user may use the project's keys with
    the read, write, scripting and transaction commands, nothing dangerous."""
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    keys = " ".join(f"~{pattern}" for pattern in REDIS_KEY_PATTERNS)
    return (
        "user default off resetkeys resetchannels -@all\n"
        f"user {username} on #{digest} resetkeys {keys} resetchannels "
        "-@all +@read +@write +@scripting +@transaction +@connection +select +acl|whoami -@dangerous\n"
    )


def start_secure_redis(directory: Path, certs: Certificates) -> SecureRedis:
    """Start a TLS-only redis-server with the ACL user; returns once it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    server = shutil.which("redis-server")
    if server is None:
        raise ServiceStartError("redis: redis-server not found (apt-get install redis-server)")
    password = secrets.token_urlsafe(18)
    aclfile = directory / "users.acl"
    aclfile.write_text(redis_acl(REDIS_USER, password), encoding="utf-8")
    aclfile.chmod(0o600)
    port = free_port()
    log_file = directory / "redis.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [server, "--bind", HOST, "--port", "0", "--tls-port", str(port),
             "--tls-cert-file", str(certs.cert_file), "--tls-key-file", str(certs.key_file),
             "--tls-ca-cert-file", str(certs.ca_file), "--tls-auth-clients", "no",
             "--aclfile", str(aclfile), "--protected-mode", "yes", "--daemonize", "no",
             "--save", "", "--appendonly", "no", "--dir", str(directory), "--logfile", ""],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    secure = SecureRedis(
        host=HOST,
        port=port,
        username=REDIS_USER,
        password_file=_write_secret(directory / "redis-password", password),
        ca_file=certs.ca_file,
        log_file=log_file,
        process=process,
        password=password,
    )
    try:
        _wait_for_redis(secure)
    except BaseException:
        _stop_process(process)
        raise
    return secure


def _wait_for_redis(secure: SecureRedis) -> None:
    import redis

    deadline = time.monotonic() + REDIS_READY_TIMEOUT
    problem = "not tried"
    while time.monotonic() < deadline:
        if secure.process.poll() is not None:
            raise ServiceStartError(
                f"redis: redis-server exited with {secure.process.returncode}\n{secure.tail()}"
            )
        client = secure.connection().client(socket_connect_timeout=2, socket_timeout=2)
        try:
            if client.ping() is True:
                return
            problem = "no PONG"
        except redis.RedisError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
        time.sleep(0.1)
    raise ServiceStartError(
        f"redis: no answer over TLS on {secure.host}:{secure.port} ({problem})\n{secure.tail()}"
    )


# --- both ----------------------------------------------------------------------


def _stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; only this pid."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class SecureServices:
    directory: Path
    certs: Certificates
    kafka: SecureKafka
    redis: SecureRedis
    startup_seconds: float

    def stop(self) -> None:
        # Data is thrown away: no need for the broker's controlled shutdown.
        _stop_process(self.kafka.process, grace=2.0)
        _stop_process(self.redis.process)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def secure_services(keep_dir: bool = False) -> Iterator[SecureServices]:
    """Certificates, the SASL_SSL broker and the TLS Redis; stopped and removed at exit."""
    t0 = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="lifeline-secure-"))
    os.chmod(directory, 0o700)
    started: list[subprocess.Popen[bytes]] = []
    try:
        certs = make_certificates(directory / "tls")
        # Redis first: it answers at once, while the broker takes seconds.
        redis_ = start_secure_redis(directory / "redis", certs)
        started.append(redis_.process)
        kafka = start_secure_kafka(directory / "kafka", certs)
        started.append(kafka.process)
    except BaseException:
        for process in started:
            _stop_process(process, grace=2.0)
        if not keep_dir:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    services = SecureServices(directory, certs, kafka, redis_, time.monotonic() - t0)
    try:
        yield services
    finally:
        if keep_dir:
            _stop_process(kafka.process, grace=2.0)
            _stop_process(redis_.process)
        else:
            services.stop()
