"""Redis stopped for 30 s mid-run and started again: nothing lost, nothing applied twice.

The worker runs against a Redis of its own (a private ``redis-server``, so the
shared one is never stopped). While a big delivery is being worked through,
that Redis shuts down (saving its data, as a restarted server would have it)
and stays down for 30 s: the worker must keep running, say so on /health
(503, degraded), hold its batch and take nothing new. Redis starts again on
the same port from the same data; the worker resumes by itself, the rest of
the world is fed, and at the end every household's state equals one clean
in-process pass (a record applied twice would show in its ledger and sums),
the standing alerts are the same, and copies of an alert are identical. Last,
Redis stops once more while the worker is idle: /health must notice that too.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, TopicPartition

from connectors.feed import Feeder, alerts_of, arrivals, read_topic
from connectors.replay import plan_deliveries

from .conftest import simulated_world
from .test_worker import copies_are_identical, standing
from .worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    Deployment,
    WorkerProcess,
    free_port,
    household_states,
    state_differences,
    states_in,
)
from .worker_harness import reference as reference_pass

HOUSEHOLDS, MONTHS, SEED = 500, 24, 5
DOWN_SECONDS = 30


class PrivateRedis:
    """A ``redis-server`` of the test's own, stopped and started on the same port and data."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (scripts/services.sh up installs it)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.folder / f"redis-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
                "--dbfilename", "dump.rdb",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    text = (self.folder / f"redis-{self.starts}.log").read_text(errors="replace")
                    pytest.fail(f"the private redis-server did not start:\n{text[-2000:]}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SHUTDOWN SAVE: unreachable from now on, its data kept for the next start."""
        assert self.process is not None
        client = redis.Redis(port=self.port, socket_timeout=30)
        try:
            client.shutdown(save=True)
        except redis.ConnectionError:
            pass
        finally:
            client.close()
        self.process.wait(timeout=30)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_world(tmp_path_factory, HOUSEHOLDS, MONTHS, SEED)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def deployment(kafka_bootstrap: str, private_redis: PrivateRedis) -> Iterator[Deployment]:
    d = Deployment(kafka_bootstrap, private_redis.url)
    d.create()
    yield d
    if not private_redis.running():  # a failure while it was down
        private_redis.start()
    d.delete()


def output_ends(deployment: Deployment) -> dict[str, int]:
    """How many messages the worker's output topics hold, topic by topic."""
    t = deployment.topics
    names = [t.events, t.rejects, t.alerts, t.operator]
    consumer = KafkaConsumer(bootstrap_servers=deployment.bootstrap)
    try:
        tps = [
            TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n))
        ]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    return {n: sum(o for tp, o in ends.items() if tp.topic == n) for n in names}


@pytest.mark.timeout(600)
def test_redis_down_for_30_s_and_back_loses_nothing_and_applies_nothing_twice(
    world: Path, deployment: Deployment, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    store = deployment.store()
    worker = WorkerProcess(deployment, tmp_path)
    worker.start()
    try:
        worker.wait_until_serving()
        feeder = Feeder(
            deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS
        )
        steps = arrivals(plan_deliveries(world / "departments"))
        outage: dict[str, object] = {}
        started = time.monotonic()
        for number, step in enumerate(steps):
            sent = feeder.send(step)
            if not outage and number >= len(steps) * 2 // 5 and sent > 400:
                # A big delivery: once the worker has started on it, Redis goes away.
                before = feeder.behind(store, deployment.app)
                deadline = time.monotonic() + 60
                while feeder.behind(store, deployment.app) == before:
                    assert time.monotonic() < deadline, "no progress before stopping Redis"
                    time.sleep(0.002)
                private_redis.stop()
                outage = watch_the_outage(worker, deployment)
                private_redis.start()
                outage["resumed_after"] = wait_for_health(worker, 200, timeout=60)
                outage["arrival"] = number
            feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)
        elapsed = time.monotonic() - started
        # Idle, the worker learns of an outage (and of its end) from /health's PING.
        private_redis.stop()
        idle_degraded = wait_for_health(worker, 503, timeout=10)
        private_redis.start()
        idle_resumed = wait_for_health(worker, 200, timeout=10)
        assert worker.stop() == 0, worker.log_text()[-3000:]
        feeder.close()
    finally:
        if worker.alive():
            worker.kill()

    assert outage, "no delivery was big enough to stop Redis during it"
    log_text = worker.log_text()
    assert "redis unavailable" in log_text
    assert "redis answers again" in log_text

    clean, reference = reference_pass(plan_deliveries(world / "departments"), deployment)
    expected = household_states(dict(clean.values))
    assert len(expected) >= HOUSEHOLDS
    got = states_in(store, sorted(expected))
    assert got == expected, state_differences(got, expected)

    published = read_topic(deployment.bootstrap, deployment.topics.alerts)
    assert len(standing(reference.alerts)) > 30
    assert standing([a for _, a in alerts_of(published)]) == standing(reference.alerts)
    assert copies_are_identical(published)

    print(
        f"\nredis-down run: {feeder.lines} lines in {elapsed:.1f} s "
        f"({feeder.lines / elapsed:.0f} lines/s) with Redis down {DOWN_SECONDS} s at arrival "
        f"{outage['arrival']} of {len(steps)}; degraded on /health after "
        f"{outage['degraded_after']:.1f} s, healthy again {outage['resumed_after']:.1f} s "
        f"after Redis started; idle: degraded after {idle_degraded:.1f} s, ok again after "
        f"{idle_resumed:.1f} s"
    )


def watch_the_outage(worker: WorkerProcess, deployment: Deployment) -> dict[str, object]:
    """For DOWN_SECONDS: alive, degraded on /health, nothing new on the output topics."""
    down = time.monotonic()
    degraded_after: float | None = None
    ends: dict[str, int] | None = None
    while time.monotonic() - down < DOWN_SECONDS:
        assert worker.alive(), worker.log_text()[-3000:]
        status, body = worker.health()
        if degraded_after is None:
            if status == 503:
                degraded_after = time.monotonic() - down
            else:
                assert time.monotonic() - down < 10, f"still healthy without Redis: {body}"
        if degraded_after is not None:
            assert status == 503, body
            assert body["status"] == "degraded" and body["redis"] == "unreachable", body
            if ends is None and time.monotonic() - down > degraded_after + 2:
                ends = output_ends(deployment)  # what was in flight has landed by now
        time.sleep(0.5)
    assert degraded_after is not None and ends is not None
    assert output_ends(deployment) == ends, "the worker sent messages while Redis was down"
    return {"degraded_after": degraded_after}


def wait_for_health(worker: WorkerProcess, wanted: int, timeout: float) -> float:
    """Seconds until /health answers ``wanted`` (200: ok, 503: degraded)."""
    started = time.monotonic()
    body: dict[str, object] = {}
    while time.monotonic() - started < timeout:
        assert worker.alive(), worker.log_text()[-3000:]
        status, body = worker.health()
        if status == wanted:
            assert body["status"] == ("ok" if wanted == 200 else "degraded"), body
            return time.monotonic() - started
        time.sleep(0.25)
    raise TimeoutError(f"/health did not answer {wanted} within {timeout} s: {body}")
