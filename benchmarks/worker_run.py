"""One real worker process: throughput on a backlog, record-to-alert latency when paced.

    .venv/bin/python benchmarks/worker_run.py [--households 1400 --months 36 --seed 11]

Needs the services (`make services`). A simulated world is sent to the
department topics of a fresh namespace in two ways, each with its own worker:

- backlog: every file at once; the worker's rate is lines sent divided by the
  time from the first send until its saved positions reach the end of every
  topic (one worker, both agents, all partitions);
- paced: one arrival time after another, waiting for the worker each time (as
  the integration tests feed it); latency is from sending an alert's latest
  evidence record to the alert on the alert topic.

Results go to benchmarks/results/worker-run.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from connectors.feed import Feeder, alerts_of, arrivals, latencies, percentile, read_topic
from connectors.replay import plan_deliveries
from connectors.simulate import load_simulator_settings, simulate
from tests.integration.worker_harness import (
    CATALOG,
    DEPARTMENTS,
    PSEUDONYMISER,
    ROOT,
    Deployment,
    WorkerProcess,
)

RESULTS = ROOT / "benchmarks" / "results" / "worker-run.json"


def run(world: Path, paced: bool, bootstrap: str, redis_url: str, logs: Path) -> dict[str, object]:
    deployment = Deployment(bootstrap, redis_url)
    deployment.create()
    worker = WorkerProcess(deployment, logs, name="paced" if paced else "backlog")
    try:
        worker.start()
        worker.wait_until_serving()
        feeder = Feeder(
            deployment.bootstrap, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS
        )
        store = deployment.store()
        steps = arrivals(plan_deliveries(world / "departments"))
        started = time.monotonic()
        for step in steps:
            feeder.send(step)
            if paced:
                feeder.wait(store, deployment.app, timeout=600, alive=worker.alive)
        feeder.wait(store, deployment.app, timeout=1800, alive=worker.alive)
        elapsed = time.monotonic() - started
        worker.stop()
        feeder.close()
        alerts = alerts_of(read_topic(deployment.bootstrap, deployment.topics.alerts))
        waits = latencies(alerts, feeder.sent_at)
        return {
            "mode": "paced" if paced else "backlog",
            "lines": feeder.lines,
            "arrival_times": len(steps),
            "seconds": round(elapsed, 1),
            "lines_per_second": round(feeder.lines / elapsed),
            "alert_messages": len(alerts),
            "latency_p50_s": round(percentile(waits, 0.5), 3),
            "latency_p99_s": round(percentile(waits, 0.99), 3),
        }
    finally:
        if worker.alive():
            worker.kill()
        deployment.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1400)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        simulate(load_simulator_settings(ROOT / "config" / "simulator.toml"),
                 args.households, args.months, args.seed, world)  # fmt: skip
        results = [
            run(world, paced, args.bootstrap, args.redis, Path(tmp)) for paced in (False, True)
        ]
    report = {
        "households": args.households,
        "months": args.months,
        "seed": args.seed,
        "runs": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(
            f"{r['mode']:>8}: {r['lines']} lines in {r['seconds']} s "
            f"= {r['lines_per_second']} lines/s (one worker); "
            f"record-to-alert p50 {r['latency_p50_s']} s, p99 {r['latency_p99_s']} s"
        )


if __name__ == "__main__":
    main()
