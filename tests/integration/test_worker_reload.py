"""Hot reload: a changed detector config is swapped in between batches, without a restart.

Half of the sample deliveries go through the worker; then detectors.toml and
the version label change on disk (first to something invalid, which the
worker refuses and keeps running on the old config, then to something
valid). The rest of the deliveries give alerts under the new version, and the
whole run ends where an in-process pass ends that switched config at the
same point.
"""

from __future__ import annotations

import shutil
import time
import urllib.request
from pathlib import Path

import orjson

from connectors.feed import Feeder, alerts_of, arrivals, read_topic
from connectors.replay import plan_deliveries
from detectors.catalog import load_engine_config
from engine.store import MemoryStore

from .test_worker import copies_are_identical, standing
from .worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    ROOT,
    Deployment,
    WorkerProcess,
    household_states,
    states_in,
)
from .worker_harness import reference as reference_pass

SAMPLES = ROOT / "samples" / "departments"
SWITCH_AFTER = 10  # arrival times before the change


def change(config: Path) -> None:
    """A new version: asset alerts become urgent, spending spikes are switched off."""
    detectors = (config / "detectors.toml").read_text()
    asset = detectors.index('name = "asset_acquired"')
    detectors = detectors[:asset] + detectors[asset:].replace(
        'severity = "medium"', 'severity = "urgent"', 1
    )
    spike = detectors.index('name = "spending_spike"')
    detectors = detectors[:spike] + detectors[spike:].replace(
        'severity = "high"', 'severity = "high"\nenabled = false', 1
    )
    (config / "detectors.toml").write_text(detectors)
    settings = (config / "lifeline.toml").read_text()
    (config / "lifeline.toml").write_text(
        settings.replace('config_version = "2026-11-29.1"', 'config_version = "reloaded"')
    )


def health(worker: WorkerProcess) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/health", timeout=5) as r:
        return dict(orjson.loads(r.read()))


def wait_for_version(worker: WorkerProcess, version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while health(worker)["config_version"] != version:
        assert time.monotonic() < deadline, f"{version} not in use:\n{worker.log_text()[-2000:]}"
        time.sleep(0.2)


def test_a_changed_config_is_swapped_in_and_shapes_the_alerts_that_follow(
    deployment: Deployment, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    old = load_engine_config(config)
    worker = WorkerProcess(deployment, tmp_path, config_dir=config, extra=("--reload-every", "0.5"))
    worker.start()
    worker.wait_until_serving()
    assert health(worker)["config_version"] == old.version

    steps = arrivals(plan_deliveries(SAMPLES))
    feeder = Feeder(deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    store = deployment.store()
    for step in steps[:SWITCH_AFTER]:
        feeder.send(step)
        feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)

    # A broken file is refused; the worker goes on with what it had.
    good = (config / "detectors.toml").read_text()
    (config / "detectors.toml").write_text(good + "\n[[detectors]]\nname = 'no_such_detector'\n")
    deadline = time.monotonic() + 20
    while "config change rejected" not in worker.log_text():
        assert time.monotonic() < deadline, worker.log_text()[-2000:]
        time.sleep(0.2)
    assert health(worker)["config_version"] == old.version and worker.alive()

    (config / "detectors.toml").write_text(good)
    change(config)
    new = load_engine_config(config)
    assert new.version.startswith("reloaded+")
    wait_for_version(worker, new.version)

    for step in steps[SWITCH_AFTER:]:
        feeder.send(step)
        feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)
    assert worker.stop() == 0
    feeder.close()

    # The same switch, in process: the old config for the first half, the new after.
    clean = MemoryStore()
    before = [d for step in steps[:SWITCH_AFTER] for d in step]
    after = [d for step in steps[SWITCH_AFTER:] for d in step]
    first_clock = max(d.received_at for d in before).isoformat()
    _, first = reference_pass(before, deployment, clean)
    _, second = reference_pass(after, deployment, clean, config_dir=config)
    # Had nothing changed, spending spikes would have been raised after the switch.
    _, unchanged = reference_pass(plan_deliveries(SAMPLES), deployment)
    assert any(
        a.detector == "spending_spike" and a.processed_at > first_clock for a in unchanged.alerts
    )

    published = read_topic(deployment.bootstrap, deployment.topics.alerts)
    alerts = [a for _, a in alerts_of(published)]
    assert standing(alerts) == standing(first.alerts + second.alerts)
    assert copies_are_identical(published)
    expected = household_states(dict(clean.values))
    assert states_in(store, sorted(expected)) == expected

    late = [a for a in alerts if a.processed_at > first_clock]
    early = [a for a in alerts if a.processed_at <= first_clock]
    assert late and early
    assert {a.config_version for a in early} == {old.version}
    assert {a.config_version for a in late} == {new.version}
    assert not [a for a in late if a.detector == "spending_spike"]
    assert {a.severity for a in late if a.detector == "asset_acquired"} == {"urgent"}
