"""Kafka and Redis connection settings: read once from the environment, turned
into the arguments of each client library the project uses.

Kafka (kafka-python for producers, admin and the CLI; aiokafka and faust for
the worker):

``LIFELINE_KAFKA_BOOTSTRAP``
    ``host:port[,host:port...]``; default ``127.0.0.1:19092`` (the test broker
    of scripts/services.sh).
``LIFELINE_KAFKA_SECURITY``
    ``plaintext`` (default; no TLS, no authentication) or ``sasl_ssl`` (TLS,
    then SASL/SCRAM). Credentials are never sent without TLS: there is no
    ``sasl_plaintext``.
``LIFELINE_KAFKA_SASL_MECHANISM``
    ``SCRAM-SHA-512`` (default with ``sasl_ssl``) or ``SCRAM-SHA-256``.
``LIFELINE_KAFKA_USERNAME``
    the SCRAM user; required with ``sasl_ssl``.
``LIFELINE_KAFKA_PASSWORD`` or ``LIFELINE_KAFKA_PASSWORD_FILE``
    its password, or a file whose first line is the password; one of them is
    required with ``sasl_ssl``.
``LIFELINE_KAFKA_CA_FILE``
    PEM file of the CA(s) that signed the brokers' certificates; without it the
    system's trusted CAs are used. Host names are always checked.

Redis (redis-py with hiredis):

``LIFELINE_REDIS_URL``
    ``redis://host:port/db`` (plain TCP) or ``rediss://host:port/db`` (TLS);
    default ``redis://127.0.0.1:16379/0``. It may hold the ACL user and
    password (``rediss://user:password@host:port/0``, percent-encoded), but the
    variables below keep the password out of the URL. Query parameters are
    refused (they could turn certificate checks off).
``LIFELINE_REDIS_USERNAME``
    the ACL user (else the URL's, else Redis's ``default`` user).
``LIFELINE_REDIS_PASSWORD`` or ``LIFELINE_REDIS_PASSWORD_FILE``
    its password, or a file whose first line is the password. A password is
    only accepted with ``rediss://``.
``LIFELINE_REDIS_CA_FILE``
    PEM file of the CA that signed the server's certificate (``rediss://``
    only); without it the system's trusted CAs are used.

Passwords are never part of a repr, a str, an error message or a log line
(they are in the keyword arguments handed to the clients, which must not be
logged). See docs/security.md.

This module does not import faust, aiokafka, kafka-python or redis at import
time, so light commands that only read settings stay fast.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    import redis

KAFKA_BOOTSTRAP_ENV = "LIFELINE_KAFKA_BOOTSTRAP"
KAFKA_SECURITY_ENV = "LIFELINE_KAFKA_SECURITY"
KAFKA_SASL_MECHANISM_ENV = "LIFELINE_KAFKA_SASL_MECHANISM"
KAFKA_USERNAME_ENV = "LIFELINE_KAFKA_USERNAME"
KAFKA_PASSWORD_ENV = "LIFELINE_KAFKA_PASSWORD"
KAFKA_PASSWORD_FILE_ENV = "LIFELINE_KAFKA_PASSWORD_FILE"
KAFKA_CA_FILE_ENV = "LIFELINE_KAFKA_CA_FILE"

REDIS_URL_ENV = "LIFELINE_REDIS_URL"
REDIS_USERNAME_ENV = "LIFELINE_REDIS_USERNAME"
REDIS_PASSWORD_ENV = "LIFELINE_REDIS_PASSWORD"
REDIS_PASSWORD_FILE_ENV = "LIFELINE_REDIS_PASSWORD_FILE"
REDIS_CA_FILE_ENV = "LIFELINE_REDIS_CA_FILE"

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"

KafkaSecurity = Literal["plaintext", "sasl_ssl"]
SECURITIES: tuple[KafkaSecurity, ...] = ("plaintext", "sasl_ssl")
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
DEFAULT_SASL_MECHANISM = "SCRAM-SHA-512"

# faust reads these from the environment and lets them override the settings
# the App is given (faust.types.settings.base: environment first), so a stray
# BROKER_URL would silently send the worker elsewhere, or without credentials.
FAUST_OVERRIDING_ENV = (
    "BROKER_URL",
    "BROKER_CONSUMER_URL",
    "BROKER_PRODUCER_URL",
    "BROKER_CREDENTIALS",
)
FAUST_ENV_PREFIX_ENV = "APP_ENV_PREFIX"


class ConnectionSettingsError(ValueError):
    """A connection setting is missing, malformed or contradicts another.

    The message names the environment variable; it never holds a password.
    """


def _get(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or None when unset or blank."""
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _read_secret_file(path: str, variable: str) -> str:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectionSettingsError(
            f"{variable}: cannot read {path}: {type(exc).__name__}"
        ) from None
    secret = lines[0] if lines else ""
    if not secret:
        raise ConnectionSettingsError(f"{variable}: the first line of {path} is empty")
    return secret


def _secret(env: Mapping[str, str], variable: str, file_variable: str) -> str | None:
    """A password from ``variable`` or from the file ``file_variable`` names."""
    value = env.get(variable) or None  # a password is taken as is, spaces and all
    path = _get(env, file_variable)
    if value is not None and path is not None:
        raise ConnectionSettingsError(f"set {variable} or {file_variable}, not both")
    if path is not None:
        return _read_secret_file(path, file_variable)
    return value


def _ca_file(env: Mapping[str, str], variable: str) -> str | None:
    path = _get(env, variable)
    if path is not None and not Path(path).is_file():
        raise ConnectionSettingsError(f"{variable}: {path} is not a file")
    return path


def _host_port(item: str, variable: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port_text = item.rpartition(":")
    if not sep and default_port is not None:
        host, port_text = item, str(default_port)
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConnectionSettingsError(f"{variable}: {item!r} is not host:port")
    return host, int(port_text)


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifies the server's certificate and host name (against ca_file, else the
    system's CAs); TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --- Kafka ---------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate to them."""

    bootstrap: tuple[str, ...] = (DEFAULT_KAFKA_BOOTSTRAP,)
    security: KafkaSecurity = "plaintext"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.bootstrap:
            raise ConnectionSettingsError(f"{KAFKA_BOOTSTRAP_ENV}: no broker address")
        for item in self.bootstrap:
            _host_port(item, KAFKA_BOOTSTRAP_ENV)
        if self.security not in SECURITIES:
            raise ConnectionSettingsError(
                f"{KAFKA_SECURITY_ENV}: {self.security!r} is not one of {', '.join(SECURITIES)}"
            )
        if self.security == "plaintext":
            extra = [
                name
                for name, value in (
                    (KAFKA_SASL_MECHANISM_ENV, self.sasl_mechanism),
                    (KAFKA_USERNAME_ENV, self.username),
                    (f"{KAFKA_PASSWORD_ENV} / {KAFKA_PASSWORD_FILE_ENV}", self.password),
                    (KAFKA_CA_FILE_ENV, self.ca_file),
                )
                if value is not None
            ]
            if extra:
                raise ConnectionSettingsError(
                    f"{', '.join(extra)} set but {KAFKA_SECURITY_ENV} is plaintext, which "
                    f"would ignore them: set {KAFKA_SECURITY_ENV}=sasl_ssl"
                )
            return
        if self.sasl_mechanism not in SCRAM_MECHANISMS:
            raise ConnectionSettingsError(
                f"{KAFKA_SASL_MECHANISM_ENV}: {self.sasl_mechanism!r} is not one of "
                f"{', '.join(SCRAM_MECHANISMS)}"
            )
        if not self.username:
            raise ConnectionSettingsError(f"{KAFKA_USERNAME_ENV} is required with sasl_ssl")
        if not self.password:
            raise ConnectionSettingsError(
                f"{KAFKA_PASSWORD_ENV} or {KAFKA_PASSWORD_FILE_ENV} is required with sasl_ssl"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaConnection:
        """The connection the ``LIFELINE_KAFKA_*`` variables describe (see the module doc)."""
        env = os.environ if environ is None else environ
        bootstrap = _get(env, KAFKA_BOOTSTRAP_ENV) or DEFAULT_KAFKA_BOOTSTRAP
        items = tuple(item.strip() for item in bootstrap.split(","))
        if any(not item for item in items):
            raise ConnectionSettingsError(f"{KAFKA_BOOTSTRAP_ENV}: empty address in {bootstrap!r}")
        security = (_get(env, KAFKA_SECURITY_ENV) or "plaintext").lower()
        mechanism = _get(env, KAFKA_SASL_MECHANISM_ENV)
        if mechanism is not None:
            mechanism = mechanism.upper()
        elif security == "sasl_ssl":
            mechanism = DEFAULT_SASL_MECHANISM
        return cls(
            bootstrap=items,
            security=security,  # type: ignore[arg-type]  # checked by __post_init__
            sasl_mechanism=mechanism,
            username=_get(env, KAFKA_USERNAME_ENV),
            password=_secret(env, KAFKA_PASSWORD_ENV, KAFKA_PASSWORD_FILE_ENV),
            ca_file=_ca_file(env, KAFKA_CA_FILE_ENV),
        )

    @property
    def security_protocol(self) -> str:
        """Kafka's name for it: ``PLAINTEXT`` or ``SASL_SSL``."""
        return self.security.upper()

    def describe(self) -> str:
        """One line for logs and messages: no password."""
        where = ",".join(self.bootstrap)
        if self.security == "plaintext":
            return f"{where} (PLAINTEXT, no authentication)"
        ca = self.ca_file or "system CAs"
        return f"{where} (SASL_SSL, {self.sasl_mechanism} as {self.username}, CA {ca})"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A fresh client TLS context (None for plaintext)."""
        return None if self.security == "plaintext" else _ssl_context(self.ca_file)

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and
        KafkaAdminClient. They hold the password: never log them."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap),
            "security_protocol": self.security_protocol,
        }
        if self.security == "sasl_ssl":
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
                "ssl_check_hostname": True,
                "ssl_cafile": self.ca_file,  # None: kafka-python loads the system's CAs
            }
        return kwargs

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's AIOKafkaProducer, AIOKafkaConsumer and
        AIOKafkaClient (a new SSL context each call). They hold the password."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap),
            "security_protocol": self.security_protocol,
        }
        if self.security == "sasl_ssl":
            kwargs |= {
                "ssl_context": self.ssl_context(),
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return kwargs

    def faust_settings(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Settings for ``faust.App(id, **settings)``: the broker URLs and credentials.

        faust turns ``broker_credentials`` into aiokafka's arguments
        (faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth).
        ``faust.SASLCredentials`` means SASL_PLAINTEXT with the PLAIN mechanism
        (the password in the clear) unless it is given an ``ssl_context`` (then
        SASL_SSL) and a ``mechanism``; and an App-level ``ssl_context`` is
        ignored once credentials are set. Both are set here, and the result is
        checked. faust also lets BROKER_URL and friends in the environment
        override these settings, so their presence is an error (``environ``,
        default ``os.environ``, is where they are looked for).
        """
        env = os.environ if environ is None else environ
        prefix = _get(env, FAUST_ENV_PREFIX_ENV)
        names = list(FAUST_OVERRIDING_ENV)
        if prefix:
            names += [f"{prefix.rstrip('_')}_{name}" for name in FAUST_OVERRIDING_ENV]
        overriding = [name for name in names if _get(env, name) is not None]
        if overriding:
            raise ConnectionSettingsError(
                f"{', '.join(overriding)} set in the environment: faust would let it override "
                f"the broker settings from {KAFKA_BOOTSTRAP_ENV} and LIFELINE_KAFKA_*; unset it"
            )
        settings: dict[str, Any] = {
            "broker": [f"kafka://{item}" for item in self.bootstrap],
            "broker_credentials": None,
        }
        if self.security == "plaintext":
            return settings

        import faust  # here, not at module level: it is slow to import
        from faust.types.auth import AuthProtocol, SASLMechanism

        credentials = faust.SASLCredentials(
            username=self.username,
            password=self.password,
            ssl_context=self.ssl_context(),
            mechanism=SASLMechanism(self.sasl_mechanism),
        )
        # faust decides the protocol from the constructor's arguments; make sure
        # a change there can never quietly downgrade to SASL_PLAINTEXT or PLAIN.
        if (
            credentials.protocol is not AuthProtocol.SASL_SSL
            or credentials.mechanism.value != self.sasl_mechanism
        ):
            raise RuntimeError(
                f"faust.SASLCredentials gave {credentials.protocol.value} "
                f"{credentials.mechanism.value}, not SASL_SSL {self.sasl_mechanism}"
            )
        settings["broker_credentials"] = credentials
        return settings


# --- Redis ---------------------------------------------------------------------


@dataclass(frozen=True)
class RedisConnection:
    """One Redis server, with TLS (``rediss://``) and an ACL user or without."""

    host: str = "127.0.0.1"
    port: int = 16379
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ConnectionSettingsError(f"{REDIS_URL_ENV}: no host")
        if not 0 < self.port < 65536:
            raise ConnectionSettingsError(f"{REDIS_URL_ENV}: port {self.port} is out of range")
        if self.db < 0:
            raise ConnectionSettingsError(f"{REDIS_URL_ENV}: database {self.db} is negative")
        if self.username and not self.password:
            raise ConnectionSettingsError(
                f"Redis user {self.username!r} has no password: set {REDIS_PASSWORD_ENV} or "
                f"{REDIS_PASSWORD_FILE_ENV} (or put it in {REDIS_URL_ENV})"
            )
        if not self.tls:
            if self.password:
                raise ConnectionSettingsError(
                    f"a Redis password is set but {REDIS_URL_ENV} is redis:// (plain TCP), "
                    "which would send it in the clear: use rediss://"
                )
            if self.ca_file:
                raise ConnectionSettingsError(
                    f"{REDIS_CA_FILE_ENV} is set but {REDIS_URL_ENV} is redis:// (plain TCP), "
                    "which would ignore it: use rediss://"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RedisConnection:
        """The connection the ``LIFELINE_REDIS_*`` variables describe (see the module doc)."""
        env = os.environ if environ is None else environ
        url = _get(env, REDIS_URL_ENV) or DEFAULT_REDIS_URL
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("redis", "rediss"):
            raise ConnectionSettingsError(
                f"{REDIS_URL_ENV}: the scheme must be redis:// or rediss://, not {scheme or '?'}"
            )
        if parts.query or parts.fragment:
            raise ConnectionSettingsError(
                f"{REDIS_URL_ENV}: query parameters are not supported; use the "
                "LIFELINE_REDIS_* variables (see docs/security.md)"
            )
        try:
            port = parts.port or 6379
        except ValueError:
            raise ConnectionSettingsError(f"{REDIS_URL_ENV}: the port is not a number") from None
        db_text = parts.path.strip("/") or "0"
        if not db_text.isdigit():
            raise ConnectionSettingsError(
                f"{REDIS_URL_ENV}: the path must be a database number, not /{db_text}"
            )

        url_user = unquote(parts.username) if parts.username else None
        url_password = unquote(parts.password) if parts.password else None
        env_user = _get(env, REDIS_USERNAME_ENV)
        if url_user and env_user and url_user != env_user:
            raise ConnectionSettingsError(
                f"{REDIS_USERNAME_ENV} ({env_user!r}) differs from the user in {REDIS_URL_ENV} "
                f"({url_user!r}): set the user in one place"
            )
        env_password = _secret(env, REDIS_PASSWORD_ENV, REDIS_PASSWORD_FILE_ENV)
        if url_password is not None and env_password is not None:
            raise ConnectionSettingsError(
                f"a password is both in {REDIS_URL_ENV} and in {REDIS_PASSWORD_ENV} / "
                f"{REDIS_PASSWORD_FILE_ENV}: set it in one place"
            )
        return cls(
            host=parts.hostname or "",
            port=port,
            db=int(db_text),
            tls=scheme == "rediss",
            username=url_user or env_user,
            password=url_password if url_password is not None else env_password,
            ca_file=_ca_file(env, REDIS_CA_FILE_ENV),
        )

    @property
    def url(self) -> str:
        """The server's URL with the user but without the password (for logs)."""
        scheme = "rediss" if self.tls else "redis"
        user = quote(self.username, safe="") if self.username else ""
        if self.password:
            user += ":***@"
        elif user:
            user += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}/{self.db}"

    def describe(self) -> str:
        """One line for logs and messages: no password."""
        if not self.tls:
            return f"{self.url} (plain TCP)"
        return f"{self.url} (TLS, CA {self.ca_file or 'system CAs'})"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis``. They hold the password."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
        }
        if self.tls:
            kwargs |= {
                "ssl": True,
                "ssl_cert_reqs": "required",
                "ssl_check_hostname": True,
                "ssl_ca_certs": self.ca_file,  # None: the system's CAs
                "ssl_min_version": ssl.TLSVersion.TLSv1_2,
            }
        return kwargs

    def client(self, **options: Any) -> redis.Redis:
        """A ``redis.Redis`` for this server; ``options`` (timeouts, decoding...)
        are passed on and may not override the connection settings."""
        import redis  # here: redis-py is not needed to read settings

        kwargs = self.client_kwargs()
        clash = sorted(set(kwargs) & set(options))
        if clash:
            raise TypeError(f"client(): {', '.join(clash)} come from the connection settings")
        return redis.Redis(**kwargs, **options)
