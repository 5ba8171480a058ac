"""Two workers in one group, one killed mid-run: the end is one clean pass.

Two ``lifeline worker`` processes share a consumer group; each county is
decided by the engine of one partition of the household topic, so both
workers have work. A simulated world is fed as it arrived; while a big
delivery is being worked through, the worker holding a county's partition
gets SIGKILL and is not restarted. After the session timeout the group gives
its partitions to the survivor, which resumes from the saved positions,
publishes what the dead worker's outboxes still held, and finishes. At the end
every household's state equals one clean in-process pass, the standing
alerts are the same, and copies of an alert under one id and revision are
byte for byte the same.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from connectors.feed import Feeder, alerts_of, arrivals, latencies, percentile, read_topic
from connectors.replay import plan_deliveries
from detectors.catalog import load_engine_config
from engine.routing import Router

from .conftest import simulated_world
from .test_worker import copies_are_identical, standing
from .worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    ROOT,
    Deployment,
    WorkerProcess,
    household_states,
    state_differences,
    states_in,
)
from .worker_harness import reference as reference_pass

HOUSEHOLDS, MONTHS, SEED = 600, 24, 23


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_world(tmp_path_factory, HOUSEHOLDS, MONTHS, SEED)


def events_partitions(worker: WorkerProcess) -> set[int]:
    """The partitions of the household topic a worker holds, by its /health."""
    status, body = worker.health()
    assert status == 200, body
    topic = worker.deployment.topics.events
    held = body["partitions"]
    assert isinstance(held, list)
    return {int(p.rsplit("/", 1)[1]) for p in held if p.rsplit("/", 1)[0] == topic}


def wait_for_split(workers: list[WorkerProcess], partitions: int, timeout: float = 90) -> None:
    """Until the group has settled with every household partition held exactly once."""
    deadline = time.monotonic() + timeout
    held: list[set[int]] = []
    while time.monotonic() < deadline:
        assert all(w.alive() for w in workers), [w.log_text()[-3000:] for w in workers]
        held = [events_partitions(w) for w in workers]
        together = sorted(p for h in held for p in h)
        if together == list(range(partitions)) and all(held):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the group did not settle: {held}")


@pytest.mark.timeout(600)
def test_two_workers_one_killed_and_the_end_is_one_clean_pass(
    world: Path, deployment: Deployment, tmp_path: Path
) -> None:
    store = deployment.store()
    workers = [WorkerProcess(deployment, tmp_path, name=n) for n in ("w1", "w2")]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_until_serving()
        wait_for_split(workers, deployment.events_partitions)

        # The victim holds a county's partition, so its death moves real work.
        config = load_engine_config(ROOT / "config")
        router = Router(config.settings, deployment.events_partitions)
        counties = {router.partition_of(r.code) for r in config.settings.regions}
        victim = next(w for w in workers if events_partitions(w) & counties)
        survivor = next(w for w in workers if w is not victim)
        before_kill = {w.name: sorted(events_partitions(w)) for w in workers}

        feeder = Feeder(
            deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS
        )
        steps = arrivals(plan_deliveries(world / "departments"))
        killed: tuple[int, int, int] | None = None
        started = time.monotonic()
        number = 0
        while number < len(steps):
            sent = feeder.send(steps[number])
            number += 1
            if killed is None and number > len(steps) // 2 and sent > 400:
                # A big delivery half way, with the arrivals after it until the
                # burst holds 1,200 lines: the workers go through them arrival
                # time by arrival time (each one whole), so after the first
                # quarter the rest is still to do. Then pull the plug on one.
                while sent < 1200 and number < len(steps):
                    sent += feeder.send(steps[number])
                    number += 1
                before = feeder.behind(store, deployment.app)
                deadline = time.monotonic() + 60
                while feeder.behind(store, deployment.app) > before * 3 // 4:
                    assert time.monotonic() < deadline, "no progress before the kill"
                    time.sleep(0.005)
                victim.kill()
                killed = (number, before, feeder.behind(store, deployment.app))
            alive = survivor.alive if killed else lambda: all(w.alive() for w in workers)
            feeder.wait(store, deployment.app, timeout=180, alive=alive)
        elapsed = time.monotonic() - started

        # The survivor took every partition of the household topic.
        status, body = survivor.health()
        assert status == 200 and body["status"] == "ok", body
        assert events_partitions(survivor) == set(range(deployment.events_partitions)), body
        assert survivor.stop() == 0, survivor.log_text()[-3000:]
        feeder.close()
    finally:
        for worker in workers:
            if worker.alive():
                worker.kill()

    assert killed is not None and killed[2] > 0, killed
    # Its last assignment held every partition of the group, resumed from saved positions.
    last = re.findall(r"assigned (\d+) partitions \((\d+) new, (\d+) resumed", survivor.log_text())
    held, _, resumed = (int(n) for n in last[-1])
    assert held >= 2 * len(DEPARTMENTS) + deployment.events_partitions and resumed > 0, last

    clean, reference = reference_pass(plan_deliveries(world / "departments"), deployment)
    expected = household_states(dict(clean.values))
    assert len(expected) >= HOUSEHOLDS
    got = states_in(store, sorted(expected))
    assert got == expected, state_differences(got, expected)

    published = read_topic(deployment.bootstrap, deployment.topics.alerts)
    alerts = alerts_of(published)
    assert len(standing(reference.alerts)) > 50
    assert standing([a for _, a in alerts]) == standing(reference.alerts)
    assert copies_are_identical(published)

    waits = latencies(alerts, feeder.sent_at)
    print(
        f"\nscale run: {feeder.lines} lines in {elapsed:.1f} s with two workers "
        f"{before_kill}, {victim.name} killed at arrival {killed[0]} of {len(steps)} "
        f"({killed[1]} messages behind, {killed[2]} at the kill) "
        f"({feeder.lines / elapsed:.0f} lines/s); {len(published)} alert messages, "
        f"record-to-alert p50 {percentile(waits, 0.5):.2f} s, p99 {percentile(waits, 0.99):.2f} s"
    )


@pytest.mark.timeout(600)
def test_a_worker_that_joins_and_leaves_in_mid_backlog_loses_nothing(
    world: Path, deployment: Deployment, tmp_path: Path
) -> None:
    """A second worker joins while the first works through a backlog, then stops.

    Each rebalance hands the partitions over and back. The consumer must go on
    from the worker's saved positions (its first record still held), not from
    the group's committed offsets: faust commits what the reader has taken, held
    records included, so resuming there lost them and the worker waited for
    them for ever, read to the end with records held.
    """
    feeder = Feeder(deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    for step in arrivals(plan_deliveries(world / "departments")):
        feeder.send(step)
    store = deployment.store()
    first = WorkerProcess(deployment, tmp_path, name="first")
    second = WorkerProcess(deployment, tmp_path, name="second")
    try:
        first.start()
        first.wait_until_serving()
        total = feeder.behind(store, deployment.app)
        deadline = time.monotonic() + 120
        while feeder.behind(store, deployment.app) > total * 9 // 10:
            assert time.monotonic() < deadline and first.alive(), first.log_text()[-3000:]
            time.sleep(0.05)
        second.start()
        second.wait_until_serving()
        wait_for_split([first, second], deployment.events_partitions)
        assert second.stop() == 0, second.log_text()[-3000:]
        left = feeder.behind(store, deployment.app)
        feeder.wait(store, deployment.app, timeout=240, alive=first.alive)
        assert first.stop() == 0, first.log_text()[-3000:]
        feeder.close()
    finally:
        for worker in (first, second):
            if worker.alive():
                worker.kill()

    assert left > 0, "the backlog was done before the second worker left"
    # The first worker was given partitions three times: alone, shared, alone again.
    assignments = re.findall(r"assigned (\d+) partitions", first.log_text())
    assert len(assignments) >= 3, assignments

    clean, reference = reference_pass(plan_deliveries(world / "departments"), deployment)
    expected = household_states(dict(clean.values))
    got = states_in(store, sorted(expected))
    assert got == expected, state_differences(got, expected)
    alerts = alerts_of(read_topic(deployment.bootstrap, deployment.topics.alerts))
    assert standing([a for _, a in alerts]) == standing(reference.alerts)
