"""Real worker processes on their own topics and Redis keys, for the daemon's tests.

A :class:`Deployment` is one namespace: every topic the worker uses, created
fresh under a unique prefix (deleted after), and a Redis key prefix, so tests
never see each other's data. :class:`WorkerProcess` runs ``lifeline worker``
as a separate process, which can be stopped (SIGTERM) or killed (SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
from kafka import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from connectors.mapping import Catalog
from connectors.pipeline import Topics
from connectors.redis_store import RedisStore
from connectors.replay import Delivery, ReplaySummary, replay
from detectors.catalog import load_engine_config
from engine.identity import Pseudonymiser
from engine.partitioned import Partitioned
from engine.routing import Router
from engine.state import decode_state, encode_state
from engine.store import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
LIFELINE = str(Path(sys.executable).with_name("lifeline"))
KEY_ID, KEY = "it", "integration-test-key-0123456789"
PSEUDONYMISER = Pseudonymiser(KEY_ID, KEY.encode())
CATALOG = Catalog.load(ROOT / "config" / "connectors")
DEPARTMENTS = sorted(CATALOG.mappings)
REGIONS = ("130126", "130424")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    bootstrap: str
    redis_url: str
    events_partitions: int = 4
    namespace: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}.")

    @property
    def topics(self) -> Topics:
        return Topics(self.namespace)

    @property
    def app(self) -> str:
        return self.namespace + "app"

    def create(self) -> None:
        t = self.topics
        wanted = {t.department(d): 2 for d in DEPARTMENTS}
        wanted |= {t.events: self.events_partitions, t.rejects: 1, t.alerts: 2, t.operator: 1}
        wanted |= {t.region(r): 1 for r in REGIONS}
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        try:
            admin.create_topics(
                {n: {"num_partitions": p, "replication_factor": 1} for n, p in wanted.items()},
                timeout_ms=30_000,
            )
            admin.wait_for_topics(list(wanted), timeout_ms=30_000)
        finally:
            admin.close()

    def delete(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        try:
            names = [n for n in admin.list_topics() if n.startswith(self.namespace)]
            if names:
                admin.delete_topics(names, timeout_ms=30_000, raise_errors=False)
        finally:
            admin.close()
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=self.namespace + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()

    def store(self) -> RedisStore:
        return RedisStore.from_url(self.redis_url, self.namespace)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: the fourth field of /proc/<pid>/stat)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # (gone meanwhile)
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


@dataclass
class WorkerProcess:
    deployment: Deployment
    logs: Path
    name: str = "w1"
    loglevel: str = "info"
    extra: tuple[str, ...] = ()
    config_dir: Path = ROOT / "config"
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # Set on top of this process's environment (e.g. the LIFELINE_KAFKA_* and
    # LIFELINE_REDIS_* security settings; an empty value counts as unset).
    env: dict[str, str] = field(default_factory=dict)
    # Prefix of the worker's Redis keys; None: the deployment's namespace.
    key_prefix: str | None = None

    def start(self) -> None:
        d = self.deployment
        self.starts += 1
        env = {
            **os.environ,
            "LIFELINE_PSEUDONYM_KEY": KEY,
            "LIFELINE_PSEUDONYM_KEY_ID": KEY_ID,
            **self.env,
        }
        log = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                LIFELINE, "worker",
                "--config", str(self.config_dir),
                "--bootstrap", d.bootstrap,
                "--redis", d.redis_url,
                "--namespace", d.namespace,
                "--key-prefix", d.namespace if self.key_prefix is None else self.key_prefix,
                "--app-id", d.app,
                "--session-timeout", "6",
                "--batch-size", "2000",
                "--settle-after", "0",
                "--batch-wait", "0.01",
                "--web-port", str(self.web_port),
                "--loglevel", self.loglevel,
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def kill_engine(self) -> int:
        """SIGKILL to the worker's engine process (connectors/engine_process.py), whose pid
        it returns; the worker goes on."""
        assert self.process is not None
        engines = [
            pid
            for pid in children(self.process.pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(engines) == 1, f"engine processes of worker {self.process.pid}: {engines}"
        os.kill(engines[0], signal.SIGKILL)
        return engines[0]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, and the exit status once it has stopped."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def log_text(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.logs.glob(f"{self.name}-*.log"))
        )

    def health(self) -> tuple[int, dict[str, object]]:
        """The worker's /health: HTTP status and body (503 while Redis is unreachable)."""
        url = f"http://127.0.0.1:{self.web_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited:\n{self.log_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.web_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"worker not serving after {timeout} s:\n{self.log_text()[-3000:]}")


def canonical_state(blob: bytes) -> bytes:
    """A household's state with its alerts' revision counts set aside.

    How many revisions an alert went through depends on whether a month was
    decided before or after a record of the same month arrived, which batch
    boundaries change; everything else must be equal byte for byte.
    """
    state = decode_state(blob)
    for record in state.alerts:
        record.revision = 0
        record.status = "standing" if record.status in ("raised", "updated") else record.status
    return encode_state(state)


def household_states(values: dict[str, bytes | None]) -> dict[str, bytes]:
    return {
        k: canonical_state(v)
        for k, v in values.items()
        if v is not None and k.startswith("hh:") and not k.endswith(":outbox")
    }


def states_in(store: RedisStore, keys: list[str]) -> dict[str, bytes]:
    return household_states(dict(zip(keys, store.get_many(keys), strict=True)))


def state_differences(got: dict[str, bytes], expected: dict[str, bytes], limit: int = 5) -> str:
    """Which households differ and in which fields (for an assertion's message)."""
    differ = sorted(k for k in expected.keys() | got.keys() if got.get(k) != expected.get(k))
    lines = [f"{len(differ)} of {len(expected)} household states differ"]
    for key in differ[:limit]:
        if key not in got or key not in expected:
            lines.append(f"{key}: {'missing' if key not in got else 'not expected'}")
            continue
        a, b = decode_state(got[key]), decode_state(expected[key])
        fields = [f for f in a.__struct_fields__ if getattr(a, f) != getattr(b, f)]
        lines.append(f"{key}: {', '.join(fields)}")
    return "\n".join(lines)


def reference(
    deliveries: Sequence[Delivery],
    deployment: Deployment,
    store: MemoryStore | None = None,
    config_dir: Path = ROOT / "config",
) -> tuple[MemoryStore, ReplaySummary]:
    """One clean in-process pass, partitioned as the deployment's household topic is.

    Each partition's engine keeps its own clock (its counties' records and the
    end-of-batch records every partition gets), as the worker's do; nothing is
    settled at the end, as a worker run with ``--settle-after 0`` settles nothing.
    """
    store = store if store is not None else MemoryStore()
    config = load_engine_config(config_dir)
    runner = Partitioned(
        Router(config.settings, deployment.events_partitions),
        store,
        lambda scope, owns: config.engine(store, scope=scope, owns=owns),
    )
    return store, replay(deliveries, CATALOG, PSEUDONYMISER, runner, settle=False)  # type: ignore[arg-type]


def metrics_page(worker: WorkerProcess) -> str:
    """The text of the worker's /metrics page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as r:
        return str(r.read().decode())


def metric_samples(worker: WorkerProcess) -> list[Sample]:
    """Every sample of the worker's /metrics page (name, labels, value)."""
    return [
        s for family in text_string_to_metric_families(metrics_page(worker)) for s in family.samples
    ]


def redis_contents(deployment: Deployment) -> dict[bytes, list[bytes]]:
    """Every key under the deployment's prefix, with what it holds (members, fields, items)."""
    client = redis.Redis.from_url(deployment.redis_url)
    found: dict[bytes, list[bytes]] = {}
    try:
        for key in client.scan_iter(match=deployment.namespace + "*", count=1000):
            kind = client.type(key)
            if kind == b"string":
                found[key] = [client.get(key) or b""]
            elif kind == b"set":
                found[key] = sorted(client.smembers(key))
            elif kind == b"hash":
                found[key] = [b for kv in client.hgetall(key).items() for b in kv]
            elif kind == b"list":
                found[key] = list(client.lrange(key, 0, -1))
            elif kind == b"zset":
                found[key] = list(client.zrange(key, 0, -1))
            elif kind != b"none":  # (expired meanwhile)
                raise AssertionError(f"Redis key {key!r} of unexpected type {kind!r}")
    finally:
        client.close()
    return found
