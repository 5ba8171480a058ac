"""The worker as a process, on the real broker and Redis: files in, alerts out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import msgspec

from connectors.feed import Feeder, Received, alerts_of, arrivals, read_topic
from connectors.files import Reject
from connectors.replay import plan_deliveries, replay
from detectors.catalog import load_engine_config
from engine.alert import Alert
from engine.store import MemoryStore

from .worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    ROOT,
    Deployment,
    WorkerProcess,
    household_states,
    metric_samples,
    state_differences,
    states_in,
)
from .worker_harness import reference as reference_pass

SAMPLES = ROOT / "samples" / "departments"


def standing(alerts: Sequence[Alert]) -> dict[str, tuple[str, str]]:
    """Each alert id's last word: standing (raised or updated), withdrawn or capped.

    How many revisions led there depends on when months were decided relative
    to records arriving in the same month, which batching changes.
    """
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if alert.alert_id not in latest or alert.revision >= latest[alert.alert_id].revision:
            latest[alert.alert_id] = alert
    word = {"raised": "standing", "updated": "standing"}
    return {i: (word.get(a.status, a.status), a.detector) for i, a in latest.items()}


def copies_are_identical(messages: Sequence[Received]) -> bool:
    seen: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    for message, alert in alerts_of(messages):
        seen[(alert.alert_id, alert.revision)].add(message.value)
    return all(len(values) == 1 for values in seen.values())


def feed(deployment: Deployment, worker: WorkerProcess, folder: Path) -> Feeder:
    feeder = Feeder(deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    store = deployment.store()
    for month in arrivals(plan_deliveries(folder)):
        feeder.send(month)
        feeder.wait(store, deployment.app, timeout=120, alive=worker.alive)
    return feeder


def test_files_through_the_worker_give_the_alerts_replay_gives(
    deployment: Deployment, tmp_path: Path
) -> None:
    worker = WorkerProcess(deployment, tmp_path)
    worker.start()
    worker.wait_until_serving()
    feeder = feed(deployment, worker, SAMPLES)
    assert worker.stop() == 0, worker.log_text()[-3000:]
    feeder.close()
    # faust's folder goes under the cache folder, not into the working directory
    assert not (ROOT / f"{deployment.app}-data").exists()

    assert_as_replay_gives(deployment)


def test_a_backlog_read_all_at_once_gives_the_alerts_replay_gives(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Every arrival on the topics before the worker starts, as after a long outage.

    The consumer hands partitions over in whatever order it fetches them, a
    later arrival of one department before an earlier one of another; the
    worker must still apply them in arrival order, or its clock runs ahead and
    months are decided before their records are in.
    """
    feeder = Feeder(deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
    for month in arrivals(plan_deliveries(SAMPLES)):
        feeder.send(month)
    # Small batches: faust's stream buffers (4 batches) fill while records wait
    # for an earlier arrival or for the household topic to be decided.
    worker = WorkerProcess(deployment, tmp_path, extra=("--batch-size", "10"))
    worker.start()
    feeder.wait(deployment.store(), deployment.app, timeout=180, alive=worker.alive)
    # Alone on every partition, the worker is the household topic's only writer: after
    # the broker's ends once per assignment, its own sends tell when the clock may move.
    checks = {
        s.labels["by"]: s.value
        for s in metric_samples(worker)
        if s.name == "lifeline_clock_checks_total"
    }
    assert checks.get("worker", 0) > checks.get("broker", 0) > 0, checks
    assert worker.stop() == 0, worker.log_text()[-3000:]
    feeder.close()
    assert_as_replay_gives(deployment)


def assert_as_replay_gives(deployment: Deployment) -> None:
    """The worker's alerts, dead letters and household states are those of an in-process pass."""
    # What `lifeline replay` does: one engine over the whole stream, in process.
    clean = MemoryStore()
    engine = load_engine_config(ROOT / "config").engine(clean)
    reference = replay(plan_deliveries(SAMPLES), CATALOG, PSEUDONYMISER, engine, settle=False)
    # The in-process partitions, as the worker's, decide the same.
    partitioned_store, partitioned = reference_pass(plan_deliveries(SAMPLES), deployment)
    assert standing(partitioned.alerts) == standing(reference.alerts)
    assert household_states(dict(partitioned_store.values)) == household_states(dict(clean.values))
    expected = household_states(dict(clean.values))
    assert len(expected) == 40
    got = states_in(deployment.store(), sorted(expected))
    assert got == expected, state_differences(got, expected)

    topics = deployment.topics
    published = read_topic(deployment.bootstrap, topics.alerts)
    alerts = [a for _, a in alerts_of(published)]
    assert len(standing(reference.alerts)) > 10
    assert standing(alerts) == standing(reference.alerts)
    assert copies_are_identical(published)
    # Revision for revision: one arrival time's records reach the engine in the
    # replay's order, whatever partitions their lines were keyed to.
    revisions = {(a.alert_id, a.revision): a for a in alerts}
    assert revisions == {(a.alert_id, a.revision): a for a in partitioned.alerts}

    # Each county's topic carries exactly that county's alerts.
    for region in {a.region for a in alerts}:
        own = read_topic(deployment.bootstrap, topics.region(region))
        assert sorted(m.value for m in own) == sorted(
            m.value for m, a in alerts_of(published) if a.region == region
        )

    # Every reject is a dead letter with its reason and where it came from.
    dead = [
        msgspec.json.decode(m.value, type=Reject)
        for m in read_topic(deployment.bootstrap, topics.rejects)
    ]
    assert Counter(r.reason_code for r in dead) == reference.rejects
    assert all(r.source.startswith(topics.department_prefix) for r in dead)
