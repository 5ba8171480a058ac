"""Connection settings from the environment (connectors/connections.py): the
client arguments they give, the errors for missing or contradictory settings,
and that no password ever shows in a repr, a str or an error message.

The same settings against a real SASL_SSL broker and a TLS Redis:
tests/integration/test_secure_connections.py.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.connections import (
    DEFAULT_KAFKA_BOOTSTRAP,
    ConnectionSettingsError,
    KafkaConnection,
    RedisConnection,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pa55-w0rd-never-shown"  # distinctive, so any leak is found


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    # Parsed only when a client connects; existence is what from_env checks.
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    return str(path)


@pytest.fixture
def kafka_env(ca_file: str) -> dict[str, str]:
    return {
        "LIFELINE_KAFKA_BOOTSTRAP": "k1.example:9093, k2.example:9093",
        "LIFELINE_KAFKA_SECURITY": "sasl_ssl",
        "LIFELINE_KAFKA_USERNAME": "lifeline-worker",
        "LIFELINE_KAFKA_PASSWORD": PASSWORD,
        "LIFELINE_KAFKA_CA_FILE": ca_file,
    }


def _error(cls: type[KafkaConnection] | type[RedisConnection], env: dict[str, str]) -> str:
    with pytest.raises(ConnectionSettingsError) as info:
        cls.from_env(env)
    message = str(info.value)
    assert PASSWORD not in message
    return message


# --- Kafka -------------------------------------------------------------------------


def test_kafka_defaults_to_the_local_plaintext_broker() -> None:
    conn = KafkaConnection.from_env({})
    assert conn.bootstrap == (DEFAULT_KAFKA_BOOTSTRAP,)
    assert conn.security_protocol == "PLAINTEXT"
    assert conn.kafka_python_kwargs() == {
        "bootstrap_servers": [DEFAULT_KAFKA_BOOTSTRAP],
        "security_protocol": "PLAINTEXT",
    }
    assert conn.aiokafka_kwargs() == conn.kafka_python_kwargs()
    assert conn.faust_settings(environ={}) == {
        "broker": [f"kafka://{DEFAULT_KAFKA_BOOTSTRAP}"],
        "broker_credentials": None,
    }


def test_kafka_sasl_ssl_defaults_to_scram_sha_512(kafka_env: dict[str, str]) -> None:
    conn = KafkaConnection.from_env(kafka_env)
    assert conn.bootstrap == ("k1.example:9093", "k2.example:9093")
    assert conn.security_protocol == "SASL_SSL"
    assert conn.sasl_mechanism == "SCRAM-SHA-512"
    assert conn.kafka_python_kwargs() == {
        "bootstrap_servers": ["k1.example:9093", "k2.example:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "lifeline-worker",
        "sasl_plain_password": PASSWORD,
        "ssl_check_hostname": True,
        "ssl_cafile": kafka_env["LIFELINE_KAFKA_CA_FILE"],
    }


def test_kafka_aiokafka_kwargs_carry_a_verifying_ssl_context(tmp_path: Path) -> None:
    conn = KafkaConnection(
        bootstrap=("k1:9093",),
        security="sasl_ssl",
        sasl_mechanism="SCRAM-SHA-256",
        username="u",
        password=PASSWORD,
        ca_file=None,  # the system's CAs: no file to parse here
    )
    kwargs = conn.aiokafka_kwargs()
    context = kwargs.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert kwargs == {
        "bootstrap_servers": ["k1:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "u",
        "sasl_plain_password": PASSWORD,
    }
    assert conn.aiokafka_kwargs()["ssl_context"] is not context  # a fresh one each call


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "scram-sha-256"])
def test_kafka_faust_settings_give_sasl_ssl_and_the_scram_mechanism(
    kafka_env: dict[str, str], mechanism: str
) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    kafka_env["LIFELINE_KAFKA_CA_FILE"] = ""  # the system's CAs: no file to parse
    conn = KafkaConnection.from_env(kafka_env | {"LIFELINE_KAFKA_SASL_MECHANISM": mechanism})
    settings = conn.faust_settings(environ={})
    assert settings["broker"] == ["kafka://k1.example:9093", "kafka://k2.example:9093"]
    # What faust hands to aiokafka for its producer and consumers.
    auth = credentials_to_aiokafka_auth(settings["broker_credentials"], None)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == mechanism.upper()
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (
        "lifeline-worker",
        PASSWORD,
    )
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    assert PASSWORD not in repr(settings)


def test_faust_own_defaults_are_sasl_plaintext_with_plain() -> None:
    """Why faust_settings() sets both the context and the mechanism: faust's
    SASLCredentials alone is SASL_PLAINTEXT + PLAIN, and an App-level
    ssl_context is ignored once credentials are given."""
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    credentials = faust.SASLCredentials(username="u", password=PASSWORD)
    auth = credentials_to_aiokafka_auth(credentials, ssl.create_default_context())
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")
    assert auth["ssl_context"] is None


@pytest.mark.parametrize("variable", ["BROKER_URL", "BROKER_CREDENTIALS", "BROKER_CONSUMER_URL"])
def test_kafka_faust_settings_refuse_faust_overrides_in_the_environment(variable: str) -> None:
    # faust lets these override the App's settings, even explicit ones.
    conn = KafkaConnection.from_env({})
    with pytest.raises(ConnectionSettingsError, match=variable):
        conn.faust_settings(environ={variable: "kafka://elsewhere:9092"})
    with pytest.raises(ConnectionSettingsError, match=f"LIFELINE_{variable}"):
        conn.faust_settings(
            environ={"APP_ENV_PREFIX": "LIFELINE_", f"LIFELINE_{variable}": "kafka://x:1"}
        )


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"LIFELINE_KAFKA_USERNAME": ""}, "LIFELINE_KAFKA_USERNAME"),
        ({"LIFELINE_KAFKA_PASSWORD": ""}, "LIFELINE_KAFKA_PASSWORD"),
        ({"LIFELINE_KAFKA_SASL_MECHANISM": "PLAIN"}, "LIFELINE_KAFKA_SASL_MECHANISM"),
        ({"LIFELINE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "LIFELINE_KAFKA_SASL_MECHANISM"),
        ({"LIFELINE_KAFKA_SECURITY": "sasl_plaintext"}, "LIFELINE_KAFKA_SECURITY"),
        ({"LIFELINE_KAFKA_SECURITY": "ssl"}, "LIFELINE_KAFKA_SECURITY"),
        ({"LIFELINE_KAFKA_SECURITY": "plaintext"}, "LIFELINE_KAFKA_SECURITY=sasl_ssl"),
        ({"LIFELINE_KAFKA_BOOTSTRAP": "k1:9093,"}, "LIFELINE_KAFKA_BOOTSTRAP"),
        ({"LIFELINE_KAFKA_BOOTSTRAP": "k1"}, "LIFELINE_KAFKA_BOOTSTRAP"),
        ({"LIFELINE_KAFKA_BOOTSTRAP": "k1:http"}, "LIFELINE_KAFKA_BOOTSTRAP"),
        ({"LIFELINE_KAFKA_CA_FILE": "/nonexistent/ca.pem"}, "LIFELINE_KAFKA_CA_FILE"),
        ({"LIFELINE_KAFKA_PASSWORD_FILE": "/nonexistent/pw"}, "not both"),
    ],
)
def test_kafka_settings_errors_name_the_variable(
    kafka_env: dict[str, str], change: dict[str, str], variable: str
) -> None:
    assert variable in _error(KafkaConnection, kafka_env | change)


def test_kafka_credentials_without_sasl_ssl_are_an_error() -> None:
    message = _error(KafkaConnection, {"LIFELINE_KAFKA_USERNAME": "u"})
    assert "LIFELINE_KAFKA_USERNAME" in message and "LIFELINE_KAFKA_SECURITY" in message
    message = _error(KafkaConnection, {"LIFELINE_KAFKA_PASSWORD": PASSWORD})
    assert "LIFELINE_KAFKA_PASSWORD" in message


def test_kafka_password_file(kafka_env: dict[str, str], tmp_path: Path) -> None:
    del kafka_env["LIFELINE_KAFKA_PASSWORD"]
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\nignored second line\n", encoding="utf-8")
    env = kafka_env | {"LIFELINE_KAFKA_PASSWORD_FILE": str(secret)}
    assert KafkaConnection.from_env(env).password == PASSWORD
    secret.write_text("\n", encoding="utf-8")
    assert "is empty" in _error(KafkaConnection, env)
    missing = env | {"LIFELINE_KAFKA_PASSWORD_FILE": str(tmp_path / "missing")}
    assert "LIFELINE_KAFKA_PASSWORD_FILE" in _error(KafkaConnection, missing)


def test_kafka_password_never_shown(kafka_env: dict[str, str]) -> None:
    conn = KafkaConnection.from_env(kafka_env)
    for text in (repr(conn), str(conn), f"{conn}", conn.describe()):
        assert PASSWORD not in text
    assert "lifeline-worker" in conn.describe() and "SCRAM-SHA-512" in conn.describe()


# --- Redis -------------------------------------------------------------------------


def test_redis_defaults_to_the_local_server() -> None:
    conn = RedisConnection.from_env({})
    assert (conn.host, conn.port, conn.db, conn.tls) == ("127.0.0.1", 16379, 0, False)
    assert conn.url == "redis://127.0.0.1:16379/0"
    assert conn.client_kwargs() == {
        "host": "127.0.0.1",
        "port": 16379,
        "db": 0,
        "username": None,
        "password": None,
    }


def test_redis_tls_and_acl_user_from_the_variables(ca_file: str, tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    conn = RedisConnection.from_env(
        {
            "LIFELINE_REDIS_URL": "rediss://redis.example:6380/2",
            "LIFELINE_REDIS_USERNAME": "lifeline",
            "LIFELINE_REDIS_PASSWORD_FILE": str(secret),
            "LIFELINE_REDIS_CA_FILE": ca_file,
        }
    )
    assert (conn.host, conn.port, conn.db, conn.tls) == ("redis.example", 6380, 2, True)
    assert (conn.username, conn.password, conn.ca_file) == ("lifeline", PASSWORD, ca_file)
    kwargs = conn.client_kwargs()
    assert kwargs["ssl"] is True and kwargs["ssl_cert_reqs"] == "required"
    assert kwargs["ssl_check_hostname"] is True and kwargs["ssl_ca_certs"] == ca_file
    assert conn.url == "rediss://lifeline:***@redis.example:6380/2"


def test_redis_credentials_in_the_url_are_decoded_and_hidden() -> None:
    conn = RedisConnection.from_env(
        {"LIFELINE_REDIS_URL": "rediss://life%40line:Pa55%2Fword@10.0.0.5:6380/0"}
    )
    assert (conn.username, conn.password) == ("life@line", "Pa55/word")
    assert conn.url == "rediss://life%40line:***@10.0.0.5:6380/0"
    for text in (repr(conn), str(conn), conn.describe(), conn.url):
        assert "Pa55" not in text


def test_redis_client_is_a_tls_client_with_the_acl_user() -> None:
    import redis

    conn = RedisConnection(host="127.0.0.1", port=6380, tls=True, username="u", password=PASSWORD)
    client = conn.client(socket_timeout=1)  # no connection is made yet
    try:
        assert isinstance(client, redis.Redis)
        pool = client.connection_pool
        assert pool.connection_class is redis.SSLConnection
        assert pool.connection_kwargs["username"] == "u"
        assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
        assert pool.connection_kwargs["socket_timeout"] == 1
    finally:
        client.close()
    with pytest.raises(TypeError, match="password"):
        conn.client(password="other")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LIFELINE_REDIS_URL": "http://h:1/0"}, "LIFELINE_REDIS_URL"),
        ({"LIFELINE_REDIS_URL": "unix:///run/redis.sock"}, "LIFELINE_REDIS_URL"),
        ({"LIFELINE_REDIS_URL": "rediss://h:1/0?ssl_cert_reqs=none"}, "LIFELINE_REDIS_URL"),
        ({"LIFELINE_REDIS_URL": "redis://h:port/0"}, "LIFELINE_REDIS_URL"),
        ({"LIFELINE_REDIS_URL": "redis://h:1/db"}, "LIFELINE_REDIS_URL"),
        ({"LIFELINE_REDIS_URL": "redis:///0"}, "LIFELINE_REDIS_URL"),
        # A password over plain TCP would cross the network in the clear.
        ({"LIFELINE_REDIS_URL": f"redis://u:{PASSWORD}@h:1/0"}, "rediss://"),
        ({"LIFELINE_REDIS_PASSWORD": PASSWORD}, "rediss://"),
        (
            {"LIFELINE_REDIS_USERNAME": "u", "LIFELINE_REDIS_URL": "rediss://h:1/0"},
            "LIFELINE_REDIS_PASSWORD",
        ),
        (
            {"LIFELINE_REDIS_URL": "rediss://u:x@h:1/0", "LIFELINE_REDIS_PASSWORD": PASSWORD},
            "one place",
        ),
        (
            {"LIFELINE_REDIS_URL": f"rediss://u:{PASSWORD}@h:1/0", "LIFELINE_REDIS_USERNAME": "v"},
            "LIFELINE_REDIS_USERNAME",
        ),
        (
            {"LIFELINE_REDIS_URL": "rediss://h:1/0", "LIFELINE_REDIS_CA_FILE": "/nonexistent"},
            "LIFELINE_REDIS_CA_FILE",
        ),
        (
            {"LIFELINE_REDIS_PASSWORD": PASSWORD, "LIFELINE_REDIS_PASSWORD_FILE": "/x"},
            "not both",
        ),
    ],
)
def test_redis_settings_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    assert variable in _error(RedisConnection, env)


def test_redis_ca_file_with_plain_tcp_is_an_error(ca_file: str) -> None:
    message = _error(RedisConnection, {"LIFELINE_REDIS_CA_FILE": ca_file})
    assert "LIFELINE_REDIS_CA_FILE" in message and "rediss://" in message


# --- import cost -------------------------------------------------------------------


def test_importing_the_module_loads_no_client_library() -> None:
    code = (
        "import sys, connectors.connections; "
        "print(sorted(m for m in ('faust', 'aiokafka', 'kafka', 'redis') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"
