"""Killed and restarted mid-run, the worker ends where one clean pass ends.

A simulated world of more than 100,000 records is fed as it arrived, one
arrival time after another; three times, while a month of wages is being
worked through, the worker gets SIGKILL and a new one starts (the second
time only its engine process gets it, and the worker starts another). At the end every household's state equals the state of one
clean in-process pass, every alert of that pass was published, and copies of
an alert under one id and revision are byte for byte the same.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors.feed import Feeder, alerts_of, arrivals, latencies, percentile, read_topic
from connectors.replay import plan_deliveries

from .conftest import simulated_world
from .test_worker import copies_are_identical, standing
from .worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    Deployment,
    WorkerProcess,
    household_states,
    state_differences,
    states_in,
)
from .worker_harness import reference as reference_pass

HOUSEHOLDS, MONTHS, SEED = 1400, 36, 11


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_world(tmp_path_factory, HOUSEHOLDS, MONTHS, SEED)


@pytest.mark.timeout(900)
def test_kill_9_three_times_and_the_end_is_one_clean_pass(
    world: Path, deployment: Deployment, tmp_path: Path
) -> None:
    store = deployment.store()
    worker = WorkerProcess(deployment, tmp_path)
    worker.start()
    worker.wait_until_serving()
    feeder = Feeder(deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    kills = []
    steps = arrivals(plan_deliveries(world / "departments"))
    started = time.monotonic()
    for number, step in enumerate(steps):
        sent = feeder.send(step)
        if number >= len(steps) * (len(kills) + 1) // 4 and sent > 1000 and len(kills) < 3:
            # A big delivery (a month of wages) a quarter further on: let the
            # worker get through part of it, then pull the plug.
            before = feeder.behind(store, deployment.app)
            deadline = time.monotonic() + 60
            while feeder.behind(store, deployment.app) > before // 2:
                assert time.monotonic() < deadline, "no progress before the kill"
                time.sleep(0.01)
            if len(kills) == 1:  # the second time, only its engine process
                worker.kill_engine()
            else:
                worker.kill()
            kills.append((number, before, feeder.behind(store, deployment.app)))
            if not worker.alive():
                worker.start()
        feeder.wait(store, deployment.app, timeout=300, alive=worker.alive)
    elapsed = time.monotonic() - started
    assert worker.stop() == 0, worker.log_text()[-3000:]
    feeder.close()
    assert len(kills) == 3 and all(0 < left for _, _, left in kills), kills
    assert worker.starts == 3, "a killed engine process took its worker with it"
    assert "the engine process died; starting another" in worker.log_text()
    assert feeder.lines > 100_000

    clean, reference = reference_pass(plan_deliveries(world / "departments"), deployment)
    expected = household_states(dict(clean.values))
    assert len(expected) >= HOUSEHOLDS
    got = states_in(store, sorted(expected))
    assert got == expected, state_differences(got, expected)

    published = read_topic(deployment.bootstrap, deployment.topics.alerts)
    alerts = alerts_of(published)
    assert standing([a for _, a in alerts]) == standing(reference.alerts)
    assert copies_are_identical(published)

    waits = latencies(alerts, feeder.sent_at)
    print(
        f"\ncrash run: {feeder.lines} lines in {elapsed:.1f} s with 3 kills "
        f"({feeder.lines / elapsed:.0f} lines/s); {len(published)} alert messages, "
        f"record-to-alert p50 {percentile(waits, 0.5):.2f} s, p99 {percentile(waits, 0.99):.2f} s"
    )
