"""Records per second, side by side, on the same department records.

    PYTHONPATH=. .venv/bin/python benchmarks/throughput.py [--households 1000 --months 24]

Needs the services (`scripts/services.sh up`). One simulated world, in
arrival order, through five paths, one after another (never two at once):

- engine_memory: the replay path in this process (files read, normalised,
  routed to the worker's partitions, each partition's engine) on the
  in-process MemoryStore; no Kafka, no Redis;
- engine_redis: the same replay path on the Redis store;
- worker: one `lifeline worker` process on the department topics, preloaded
  before it starts (Kafka in, Redis state, Kafka out); from its consumer group
  becoming stable until its saved positions reach the end of every topic it
  reads, the household topic included;
- bare_consumer: an aiokafka consumer in its own group, default fetch
  settings, `getmany` over the same department topics and nothing else: the
  transport's limit for a Python consumer;
- faust_baseline: benchmarks/faust_baseline.py, an idiomatic faust agent doing
  the record-level share of the work one record at a time (one Redis GET and
  SET each), until its committed offsets reach the end.

Results: benchmarks/results/throughput.json and throughput.png, and the
`## Throughput` section of benchmarks/throughput.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` without PYTHONPATH
    sys.path.insert(0, str(ROOT))

from kafka import KafkaAdminClient, KafkaConsumer  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

from benchmarks.common import (  # noqa: E402
    WORKER_HOPS,
    WORKER_OPTIONS,
    Load,
    World,
    build_world,
    department_partitions,
    drain,
    machine,
    now,
    partitioned,
    preload,
    publish,
    pyplot,
    rate,
    relative,
    revision_digest,
    topic_partitions,
    wait_for_group,
    worker_backlog,
    world_parser,
)
from connectors.files import Reject, ingest_file  # noqa: E402
from connectors.redis_store import RedisStore  # noqa: E402
from connectors.replay import replay  # noqa: E402
from engine.store import MemoryStore, Store  # noqa: E402
from tests.integration.worker_harness import CATALOG, KEY, KEY_ID, PSEUDONYMISER, Deployment  # noqa: E402

MODES = ("engine_memory", "engine_redis", "bare_consumer", "worker", "faust_baseline")
LABELS = {
    "engine_memory": "engine, in-process store (replay path)",
    "engine_redis": "engine, Redis store (replay path)",
    "worker": "lifeline worker (Kafka in, Redis, Kafka out)",
    "bare_consumer": "bare aiokafka consumer (transport limit)",
    "faust_baseline": "faust baseline (per-record agent, Redis GET+SET)",
}


# --- in-process: the replay path --------------------------------------------------------


def normalise_only(world: World) -> dict[str, Any]:
    """Reading and normalising the files alone (no engine): part of every path's work."""
    started, cpu = time.perf_counter(), time.process_time()
    events = rejects = 0
    for delivery in world.deliveries:
        for item in ingest_file(
            delivery.path, CATALOG, PSEUDONYMISER, received_at=delivery.received_at
        ):
            if isinstance(item, Reject):
                rejects += 1
            else:
                events += 1
    seconds = time.perf_counter() - started
    return {
        "records": world.records,
        "events": events,
        "rejects": rejects,
        "seconds": round(seconds, 2),
        "records_per_second": rate(world.records, seconds),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }


def engine_replay(world: World, store: Store, partitions: int) -> dict[str, Any]:
    """The world through the worker's partitions' engines in this process (harness' reference)."""
    runner = partitioned(store, partitions)
    load = Load()
    started, cpu = time.perf_counter(), time.process_time()
    summary = replay(world.deliveries, CATALOG, PSEUDONYMISER, runner, settle=False)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    used = time.process_time() - cpu
    return {
        "records": world.records,
        "events": summary.events,
        "rejects": sum(summary.rejects.values()),
        "alerts": len({a.alert_id for a in summary.alerts}),
        "alert_revisions": len(summary.alerts),
        "alert_revision_digest": revision_digest(summary.alerts)[1],
        "seconds": round(seconds, 2),
        "records_per_second": rate(world.records, seconds),
        "cpu_seconds": round(used, 1),
        "cpu_percent_of_one_core": round(100 * used / seconds, 1),
        "load": load.finish(),
    }


# --- Kafka: the bare consumer -----------------------------------------------------------


async def _bare_consumer(bootstrap: str, topics: list[str], records: int, group: str) -> Any:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.abc import ConsumerRebalanceListener

    assigned: list[float] = []

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            pass

        async def on_partitions_assigned(self, partitions: Any) -> None:
            if partitions and not assigned:
                assigned.append(time.monotonic())

    launched = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumer.subscribe(topics, listener=Listener())
    await consumer.start()
    load, seen, cpu = Load(), 0, time.process_time()
    try:
        while seen < records:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(messages) for messages in batch.values())
            load.sample()
    finally:
        finished = time.monotonic()
        used = time.process_time() - cpu
        await consumer.stop()
    return launched, assigned[0] if assigned else launched, finished, seen, used, load.finish()


def bare_consumer(deployment: Deployment, world: World) -> dict[str, Any]:
    topics = sorted({tp.topic for tp in _department_tps(deployment)})
    launched, started, finished, seen, used, load = asyncio.run(
        _bare_consumer(deployment.bootstrap, topics, world.records, deployment.namespace + "bare")
    )
    seconds = finished - started
    return {
        "records": seen,
        "seconds": round(seconds, 3),
        "records_per_second": rate(seen, seconds),
        "startup_seconds": round(started - launched, 2),
        "cpu_seconds": round(used, 1),
        "cpu_percent_of_one_core": round(100 * used / seconds, 1) if seconds else None,
        "load": load,
        "settings": "AIOKafkaConsumer defaults (fetch_max_bytes 50 MB, max_partition_fetch_bytes "
        "1 MB, fetch_max_wait_ms 500), own group, no auto commit, getmany(timeout_ms=1000)",
    }


def _department_tps(deployment: Deployment) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=deployment.bootstrap)
    try:
        return department_partitions(consumer, deployment)
    finally:
        consumer.close()


# --- Kafka: the faust baseline ----------------------------------------------------------


def faust_baseline(
    deployment: Deployment, world: World, logs: Path, timeout: float
) -> dict[str, Any]:
    app_id = deployment.namespace + "faust-baseline"
    alerts_topic = app_id + ".alerts"
    admin = KafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=deployment.bootstrap)

    admin.create_topics([NewTopic(alerts_topic, 2, 1)])
    admin.wait_for_topics([alerts_topic], timeout_ms=30_000)
    departments = department_partitions(consumer, deployment)
    ends = consumer.end_offsets(departments)
    command = [
        sys.executable, str(ROOT / "benchmarks" / "faust_baseline.py"),
        "--bootstrap", deployment.bootstrap,
        "--redis", deployment.redis_url,
        "--namespace", deployment.namespace,
        "--app-id", app_id,
        "--key-prefix", deployment.namespace + "faust:",
        "--alerts-topic", alerts_topic,
        "--data-dir", str(logs),  # (a temporary folder: faust's own folder goes with it)
    ]  # fmt: skip
    env = {**os.environ, "LIFELINE_PSEUDONYM_KEY": KEY, "LIFELINE_PSEUDONYM_KEY_ID": KEY_ID}
    log_path = logs / "faust-baseline.log"
    launched = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def alive() -> bool:
        return process.poll() is None

    def committed_all() -> bool:
        offsets = admin.list_group_offsets({app_id: departments}).get(app_id, {})
        committed = {tp: o.offset for tp, o in offsets.items() if o is not None}
        # (an empty partition has no commit: -1 or absent)
        return all(ends[tp] == 0 or committed.get(tp, -1) >= ends[tp] for tp in departments)

    try:
        started = wait_for_group(admin, app_id, alive=alive)
        drained = drain(
            committed_all, started, launched, world.records, timeout, alive, process.pid
        )
        report = drained.report()
        report["alert_messages"] = sum(
            consumer.end_offsets(topic_partitions(consumer, alerts_topic)).values()
        )
        report["progress"] = "faust's committed offsets (committed every 2.8 s by default)"
        return report
    except BaseException:
        print(f"faust baseline log (tail):\n{log_path.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        if alive():
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        admin.close()
        consumer.close()


# --- the run ----------------------------------------------------------------------------


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    world = build_world(args.households, args.months, args.seed, work / "world")
    print(f"world: {world.records} records in {len(world.deliveries)} files", flush=True)
    modes: dict[str, dict[str, Any]] = {}
    deployment = Deployment(args.bootstrap, args.redis)
    deployment.create()
    try:
        loaded = preload(deployment, world)
        print(f"preloaded: {loaded['records_per_second']} records/s", flush=True)
        split = normalise_only(world) if "engine_memory" in args.modes else None
        for mode in MODES:
            if mode not in args.modes:
                continue
            if mode == "engine_memory":
                modes[mode] = engine_replay(world, MemoryStore(), deployment.events_partitions)
            elif mode == "engine_redis":
                store = RedisStore.from_url(args.redis, deployment.namespace + "replay:")
                modes[mode] = engine_replay(world, store, deployment.events_partitions)
                store.client.close()
            elif mode == "bare_consumer":
                modes[mode] = bare_consumer(deployment, world)
            elif mode == "worker":
                modes[mode] = worker_backlog(deployment, world, work, args.timeout)
            elif mode == "faust_baseline":
                modes[mode] = faust_baseline(deployment, world, work, args.timeout)
            modes[mode] = {"label": LABELS[mode], **modes[mode]}
            print(f"{mode}: {modes[mode]['records_per_second']} records/s", flush=True)
    finally:
        deployment.delete()
    return {
        "benchmark": "throughput",
        "generated_at": now(),
        "command": "PYTHONPATH=. .venv/bin/python benchmarks/throughput.py "
        f"--households {args.households} --months {args.months} --seed {args.seed}",
        "world": world.describe(),
        "machine": machine(),
        "preload": loaded,
        "normalise_only": split,
        "modes": modes,
        "comparisons": comparisons(modes),
        "worker_options": WORKER_OPTIONS,
        "worker_hops": WORKER_HOPS,
        "notes": [
            "records: department lines, events and rejects alike, the same for every mode",
            "Kafka modes are timed from their consumer group becoming stable (start-up "
            "excluded; see startup_seconds) to their progress reaching the end",
            "load: os.getloadavg() and every core's busy share while measuring; the machine "
            "is shared, so compare modes of one run",
        ],
    }


def comparisons(modes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def ratio(a: str, b: str) -> float | None:
        if a in modes and b in modes and modes[b]["records_per_second"]:
            return round(modes[a]["records_per_second"] / modes[b]["records_per_second"], 3)
        return None

    return {
        "worker_share_of_bare_consumer": ratio("worker", "bare_consumer"),
        "worker_multiple_of_faust_baseline": ratio("worker", "faust_baseline"),
        "worker_share_of_engine_memory": ratio("worker", "engine_memory"),
        "worker_share_of_engine_redis": ratio("worker", "engine_redis"),
        "engine_redis_share_of_engine_memory": ratio("engine_redis", "engine_memory"),
        "faust_baseline_share_of_bare_consumer": ratio("faust_baseline", "bare_consumer"),
        # Checks, not speeds: the worker should publish what the engine raises.
        "worker_alert_messages_per_engine_alert_revision": round(
            modes["worker"]["alert_messages"] / modes["engine_memory"]["alert_revisions"], 3
        )
        if "worker" in modes and modes.get("engine_memory", {}).get("alert_revisions")
        else None,
        "worker_alert_revisions_as_engine": modes["worker"]["alert_revision_digest"]
        == modes["engine_memory"]["alert_revision_digest"]
        if "worker" in modes and "engine_memory" in modes
        else None,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    modes = [m for m in MODES if m in report["modes"]]
    values = [report["modes"][m]["records_per_second"] for m in modes]
    fig, ax = plt.subplots(figsize=(10, 0.7 * len(modes) + 1.8))
    bars = ax.barh([LABELS[m] for m in modes], values, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3)
    ax.set_xscale("log")
    ax.set_xlabel("records per second (log scale)")
    ax.invert_yaxis()
    world, c = report["world"], report["comparisons"]
    loads = [
        report["modes"][m]["load"]["load_1m_mean"] for m in modes if "load" in report["modes"][m]
    ]
    subtitle = []
    if c["worker_share_of_bare_consumer"] is not None:
        subtitle.append(f"worker = {c['worker_share_of_bare_consumer']:.1%} of the bare consumer")
    if c["worker_multiple_of_faust_baseline"] is not None:
        subtitle.append(f"{c['worker_multiple_of_faust_baseline']:.2f}x the faust baseline")
    fig.suptitle(
        f"Throughput, one run: {world['records']:,} records ({world['households']} households "
        f"x {world['months']} months), {report['machine']['cpus']} shared cores, 1-minute "
        f"load {min(loads, default=0):.1f} to {max(loads, default=0):.1f}\n" + "; ".join(subtitle),
        fontsize=9,
    )
    # Log-scale bars start from a round number below the smallest, not from zero.
    ax.set_xlim(left=10 ** math.floor(math.log10(max(min(values), 1))), right=max(values) * 4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(report: dict[str, Any], png: Path) -> str:
    w, m, c = report["world"], report["modes"], report["comparisons"]
    loads = [r["load"]["load_1m_mean"] for r in m.values()]
    lines = [
        "## Throughput",
        "",
        f"Measured {report['generated_at']} on {report['machine']['cpus']} shared cores: "
        f"a simulated world of {w['households']:,} households over {w['months']} months, "
        f"{w['records']:,} department records in {w['files']} files "
        f"({w['arrival_times']} arrival times), the same records through each path, one "
        "path at a time.",
        "",
        "| path | records/s | seconds | CPU (of one core) | load (1 min) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for mode in MODES:
        if mode in m:
            r = m[mode]
            cpu = r.get("cpu_percent_of_one_core")
            lines.append(
                f"| {r['label']} | {r['records_per_second']:,.0f} | {r['seconds']} | "
                f"{'' if cpu is None else f'{cpu:.0f}%'} | {r['load']['load_1m_mean']} |"
            )
    lines.append("")
    facts = []
    if c["worker_share_of_bare_consumer"] is not None:
        facts.append(
            f"the worker runs at {c['worker_share_of_bare_consumer']:.1%} of the bare consumer"
        )
    if c["worker_multiple_of_faust_baseline"] is not None:
        facts.append(f"{c['worker_multiple_of_faust_baseline']:.2f} times the faust baseline")
    if c["worker_share_of_engine_memory"] is not None:
        facts.append(f"{c['worker_share_of_engine_memory']:.0%} of the in-process engine")
    if c["worker_share_of_engine_redis"] is not None:
        facts.append(f"{c['worker_share_of_engine_redis']:.0%} of the engine on Redis")
    if facts:
        lines += ["Side by side: " + ", ".join(facts) + ".", ""]
    if "worker" in m and "engine_memory" in m:
        engine, worker = m["engine_memory"], m["worker"]
        lines.append(
            f"Decisions on the same records: the in-process engine raised "
            f"{engine['alert_revisions']:,} alert revisions, the worker on the preloaded "
            f"backlog published {worker['alert_messages']:,} alert messages and "
            f"{worker.get('operator_alert_messages', 0):,} operator alerts (batch missing "
            "or small)."
        )
        if c.get("worker_alert_revisions_as_engine") is not None:
            same = c["worker_alert_revisions_as_engine"]
            lines[-1] += (
                f" Its {worker['alert_revisions']:,} distinct revisions (alert id, revision, "
                f"status) are {'the same as' if same else 'not those of'} the engine's."
            )
        if abs(worker["alert_messages"] - engine["alert_revisions"]) > 0.05 * max(
            1, engine["alert_revisions"]
        ):
            lines.append(
                "The two differ by more than 5%: the worker did not decide as the engine "
                "over the whole stream does, and its figure is for that run."
            )
        lines.append("")
    if report.get("normalise_only"):
        n = report["normalise_only"]
        lines += [
            f"Reading and normalising the files alone, no engine: "
            f"{n['records_per_second']:,.0f} records/s.",
            "",
        ]
    steps = m.get("worker", {}).get("where_time_went", {}).get("step_seconds")
    if steps:
        lines += [
            "Where the worker's time went (`lifeline_step_seconds` summed over the "
            f"{m['worker']['seconds']} s run; engine steps run one after another in the "
            "engine process, normalise, route and positions in the worker's own thread, "
            "alongside them; send waits for the broker's acks): "
            + ", ".join(f"{k} {v} s" for k, v in sorted(steps.items(), key=lambda kv: -kv[1]))
            + ".",
            "",
        ]
    if loads:
        lines += [
            f"The machine was shared while measuring (1-minute load {min(loads)} to "
            f"{max(loads)} on {report['machine']['cpus']} cores): figures move between runs; "
            "compare the paths of one run.",
            "",
        ]
    lines += [
        "Kafka hops a record makes through `lifeline worker`, each a produce and a consume:",
        "",
        "| hop | produce | consume |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {h['hop']} | {h['produce']} | {h['consume']} |" for h in report["worker_hops"]]
    lines += [
        "",
        "The faust baseline (`benchmarks/faust_baseline.py`) does the record-level share of "
        "the work one record at a time (`async for value in stream`): the same decoding and "
        "pseudonymisation, one Redis GET and one SET of the household's JSON through "
        "`redis.asyncio`, the death, disability and asset rules, alerts and rejects to "
        "topics. It makes no month decisions and has no re-keying hop, outbox, saved "
        "positions or ledger; its person-to-household directory is a dict in the process.",
        "",
        "Kafka paths are timed from their consumer group becoming stable (start-up apart) "
        "to their saved positions (worker: department and household topics) or committed "
        "offsets (faust, committed every 2.8 s) reaching the end. Reproduce, services up:",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        f"Results: `{relative(png.with_suffix('.json'))}`, chart `{relative(png)}`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = world_parser(__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a Kafka mode may take")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = measure(args, Path(tmp))
    publish(report, args.results, "throughput", plot, args.markdown, "Throughput", markdown)


if __name__ == "__main__":
    main()
