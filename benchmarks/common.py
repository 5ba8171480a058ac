"""What the throughput and latency benchmarks share.

A simulated world's department records on a fresh deployment (its own topics
and Redis keys), one real ``lifeline worker`` draining them as a backlog,
progress read from saved positions or committed offsets, the machine's load
while a figure is measured, and the results: JSON, PNG and the markdown
sections of benchmarks/throughput.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` without PYTHONPATH
    sys.path.insert(0, str(ROOT))

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition  # noqa: E402

from connectors.feed import alerts_of, read_topic  # noqa: E402
from connectors.kafka_ingest import producer, send_file  # noqa: E402
from connectors.pipeline import position_key  # noqa: E402
from connectors.readers import read_rows  # noqa: E402
from connectors.replay import Delivery, plan_deliveries  # noqa: E402
from connectors.simulate import load_simulator_settings, simulate  # noqa: E402
from detectors.catalog import EngineConfig, load_engine_config  # noqa: E402
from engine.alert import Alert  # noqa: E402
from engine.partitioned import Partitioned  # noqa: E402
from engine.routing import Router  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.integration.worker_harness import (  # noqa: E402
    CATALOG,
    DEPARTMENTS,
    Deployment,
    WorkerProcess,
    children,
    metric_samples,
)

RESULTS = ROOT / "benchmarks" / "results"
MARKDOWN = ROOT / "benchmarks" / "throughput.md"
BOOTSTRAP = os.environ.get("LIFELINE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
REDIS_URL = os.environ.get("LIFELINE_REDIS_URL", "redis://127.0.0.1:16379/0")


def world_parser(description: str) -> argparse.ArgumentParser:
    """The options of a benchmark over one simulated world and the services."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bootstrap", default=BOOTSTRAP)
    parser.add_argument("--redis", default=REDIS_URL)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of JSON and PNG")
    parser.add_argument("--markdown", type=Path, default=MARKDOWN)
    return parser


POLL = 0.05  # seconds between looks at a consumer's progress

# The Kafka hops a department record makes through `lifeline worker`
# (connectors/worker.py, connectors/pipeline.py), each a produce and a consume.
WORKER_HOPS = [
    {
        "hop": "departments -> dept.<department>",
        "produce": "lifeline ingest (here: the benchmark, before the worker starts or paced)",
        "consume": "normalise agent (faust consumer, group <app-id>), batches of up to 2000",
    },
    {
        "hop": "normalise -> events.by_household (the re-keying hop)",
        "produce": "normalise: every event keyed by household, to its county's partition, "
        "in arrival order across department partitions, one arrival time at a time (the "
        "next goes once this topic is decided to its end); a tick to every partition when "
        "the stream's clock moves on; acks=all awaited before the positions are saved in Redis",
        "consume": "decide agent (same consumer group), batches of up to 2000",
    },
    {
        "hop": "normalise -> rejects",
        "produce": "dead letters (reason, source, masked content)",
        "consume": "operators (not in the measurement)",
    },
    {
        "hop": "decide -> events.by_household (forwards)",
        "produce": "records whose household another partition owns (rare)",
        "consume": "decide agent of the owning partition",
    },
    {
        "hop": "decide -> alerts and alerts.<region> (+ operator.alerts)",
        "produce": "each alert twice, from the outbox, acks=all awaited before the outbox "
        "is cleared and the positions saved",
        "consume": "caseworkers (lifeline alerts tail); the latency benchmark reads alerts",
    },
]


# --- the world ------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    households: int
    months: int
    seed: int
    deliveries: list[Delivery]
    records: int  # department lines (events and rejects alike)

    def describe(self) -> dict[str, Any]:
        return {
            "households": self.households,
            "months": self.months,
            "seed": self.seed,
            "files": len(self.deliveries),
            "arrival_times": len({d.received_at for d in self.deliveries}),
            "records": self.records,
        }


def build_world(households: int, months: int, seed: int, folder: Path) -> World:
    """A simulated world's department files, in arrival order (config/simulator.toml)."""
    settings = load_simulator_settings(ROOT / "config" / "simulator.toml")
    simulate(settings, households, months, seed, folder)
    deliveries = sorted(
        plan_deliveries(folder / "departments"), key=lambda d: (d.received_at, d.order)
    )
    records = sum(_lines(d.path) for d in deliveries)
    return World(households, months, seed, deliveries, records)


def _lines(path: Path) -> int:
    _, layout = CATALOG.layout_for(path.name)
    return sum(1 for _ in read_rows(path, layout))


def preload(deployment: Deployment, world: World) -> dict[str, Any]:
    """Every file onto the department topics (as `lifeline ingest` sends them), acknowledged."""
    send = producer(deployment.bootstrap)
    started = time.perf_counter()
    sent = 0
    try:
        for delivery in world.deliveries:
            result = send_file(
                delivery.path,
                CATALOG,
                send,
                delivery.received_at,
                topic_prefix=deployment.topics.department_prefix,
            )
            sent += result.sent
        send.flush(timeout=300)
    finally:
        send.close()
    seconds = time.perf_counter() - started
    if sent != world.records:
        raise RuntimeError(f"sent {sent} lines, the world has {world.records}")
    return {
        "records": sent,
        "seconds": round(seconds, 2),
        "records_per_second": rate(sent, seconds),
    }


def partitioned(store: Store, partitions: int, config: EngineConfig | None = None) -> Partitioned:
    """The worker's partitions' engines in one process (as the harness' reference runs them)."""
    config = config or load_engine_config(ROOT / "config")
    return Partitioned(
        Router(config.settings, partitions),
        store,
        lambda scope, owns: config.engine(store, scope=scope, owns=owns),
    )


def department_partitions(consumer: KafkaConsumer, deployment: Deployment) -> list[TopicPartition]:
    names = [deployment.topics.department(d) for d in DEPARTMENTS]
    return [
        TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or ())
    ]


def topic_partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


# --- the machine ----------------------------------------------------------------------


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every core since boot (/proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process and the processes it started (those still
    running: a worker's engine process) have used so far (0 if it is gone)."""
    return sum(_own_cpu_seconds(p) for p in [pid, *children(pid)])


def _own_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """The machine's load over a measurement: load averages and every core's busy share."""

    started: float = field(default_factory=time.monotonic)
    ticks: tuple[int, int] = field(default_factory=_cpu_ticks)
    load_1m_start: float = field(default_factory=lambda: os.getloadavg()[0])
    samples: list[float] = field(default_factory=list)

    def sample(self) -> None:
        self.samples.append(os.getloadavg()[0])

    def finish(self) -> dict[str, Any]:
        busy, total = _cpu_ticks()
        spent = total - self.ticks[1]
        return {
            "load_1m_start": round(self.load_1m_start, 2),
            "load_1m_end": round(os.getloadavg()[0], 2),
            "load_1m_mean": round(sum(self.samples) / len(self.samples), 2)
            if self.samples
            else round(os.getloadavg()[0], 2),
            "machine_cpu_busy_percent": round(100 * (busy - self.ticks[0]) / spent, 1)
            if spent
            else None,
            "cpus": os.cpu_count(),
        }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
    }


def rate(records: int, seconds: float) -> float:
    return round(records / seconds, 1) if seconds > 0 else 0.0


# --- waiting on consumers -------------------------------------------------------------


def wait_for_group(
    admin: KafkaAdminClient,
    group: str,
    timeout: float = 120,
    alive: Callable[[], bool] = lambda: True,
) -> float:
    """Until a consumer group is stable with its partitions assigned; the monotonic time then.

    The measurement starts there: a process's start-up (imports, connecting,
    joining the group) is not its throughput.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the consumer of group {group} stopped before joining")
        try:
            described = admin.describe_groups([group])
        except Exception:  # (the coordinator may not know the group yet)
            described = {}
        state = described.get(group) or {}
        members = state.get("members") or []
        if state.get("group_state", state.get("state")) == "Stable" and any(
            m.get("member_assignment") for m in members
        ):
            return time.monotonic()
        time.sleep(POLL)
    raise TimeoutError(f"consumer group {group} not stable after {timeout:.0f} s")


def saved(store: Store, app: str, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    """The worker's saved positions (next offsets to read) of these partitions."""
    values = store.get_many([position_key(app, tp.topic, tp.partition) for tp in tps])
    return {tp: int(v) if v is not None else 0 for tp, v in zip(tps, values, strict=True)}


@dataclass
class Drained:
    """How a consumer drained a backlog."""

    records: int
    started: float  # monotonic: the group became stable (or the process started)
    finished: float
    launched: float  # monotonic: the process was started
    load: dict[str, Any]
    cpu_seconds: float | None = None

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def report(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "seconds": round(self.seconds, 2),
            "records_per_second": rate(self.records, self.seconds),
            "startup_seconds": round(self.started - self.launched, 2),
            "seconds_with_startup": round(self.finished - self.launched, 2),
            "cpu_seconds": round(self.cpu_seconds, 1) if self.cpu_seconds is not None else None,
            "cpu_percent_of_one_core": round(100 * self.cpu_seconds / self.seconds, 1)
            if self.cpu_seconds is not None and self.seconds > 0
            else None,
            "load": self.load,
        }


def drain(
    done: Callable[[], bool],
    started: float,
    launched: float,
    records: int,
    timeout: float,
    alive: Callable[[], bool],
    pid: int | None = None,
) -> Drained:
    """Poll ``done`` until it holds; time and machine load from ``started``."""
    load = Load()
    cpu = process_cpu_seconds(pid) if pid else None
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not caught up after {timeout:.0f} s")
        if not alive():
            raise RuntimeError("the consumer stopped before catching up")
        load.sample()
        time.sleep(POLL)
    finished = time.monotonic()
    used = process_cpu_seconds(pid) - cpu if pid and cpu is not None else None
    return Drained(records, started, finished, launched, load.finish(), used)


# --- the worker on a backlog ------------------------------------------------------------


def worker_steps(worker: WorkerProcess) -> dict[str, Any]:
    """Where the worker's time went: its step and batch timings (seconds, summed)."""
    out: dict[str, Any] = {"step_seconds": {}, "batch_seconds": {}, "batches": {}}
    try:
        samples = metric_samples(worker)
    except OSError:
        return out
    for s in samples:
        step = s.labels.get("step")
        if s.name == "lifeline_step_seconds_sum":
            out["step_seconds"][step] = round(out["step_seconds"].get(step, 0) + s.value, 2)
        elif s.name == "lifeline_batch_seconds_sum":
            out["batch_seconds"][step] = round(s.value, 2)
        elif s.name == "lifeline_batch_seconds_count":
            out["batches"][step] = int(s.value)
    out["ms_per_batch"] = {
        step: round(1000 * seconds / out["batches"][step], 1)
        for step, seconds in out["batch_seconds"].items()
        if out["batches"].get(step)
    }
    return out


def revision_digest(alerts: Iterable[Alert]) -> tuple[int, str]:
    """How many distinct alert revisions (id, revision, status), and a digest of them:
    two runs that raised the same revisions have the same digest."""
    keys = sorted({f"{a.alert_id} {a.revision} {a.status}" for a in alerts})
    return len(keys), hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def worker_backlog(
    deployment: Deployment, world: World, logs: Path, timeout: float = 3600
) -> dict[str, Any]:
    """One `lifeline worker` over the preloaded department topics, until its saved
    positions reach the end of every topic it reads (department and household)."""
    consumer = KafkaConsumer(bootstrap_servers=deployment.bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    store = deployment.store()
    worker = WorkerProcess(deployment, logs, name="backlog", loglevel="warning")
    try:
        departments = department_partitions(consumer, deployment)
        events = topic_partitions(consumer, deployment.topics.events)
        department_ends = consumer.end_offsets(departments)

        def caught_up() -> bool:
            positions = saved(store, deployment.app, departments + events)
            if any(positions[tp] < department_ends[tp] for tp in departments):
                return False
            event_ends = consumer.end_offsets(events)
            return all(positions[tp] >= event_ends[tp] for tp in events)

        launched = time.monotonic()
        worker.start()
        assert worker.process is not None
        started = wait_for_group(admin, deployment.app, alive=worker.alive)
        drained = drain(
            caught_up, started, launched, world.records, timeout, worker.alive, worker.process.pid
        )
        report = drained.report()
        report["events_by_household_messages"] = sum(consumer.end_offsets(events).values())
        report["alert_messages"] = sum(
            consumer.end_offsets(topic_partitions(consumer, deployment.topics.alerts)).values()
        )
        report["operator_alert_messages"] = sum(
            consumer.end_offsets(topic_partitions(consumer, deployment.topics.operator)).values()
        )
        published = alerts_of(read_topic(deployment.bootstrap, deployment.topics.alerts))
        report["alert_revisions"], report["alert_revision_digest"] = revision_digest(
            a for _, a in published
        )
        report["where_time_went"] = worker_steps(worker)
        worker.kill()  # (measured; a clean stop would only cost time)
        return report
    except BaseException:
        if worker.process is not None:
            print(f"worker log (tail):\n{worker.log_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        if worker.alive():
            worker.kill()
        consumer.close()
        admin.close()
        store.client.close()


WORKER_OPTIONS = {  # as tests/integration/worker_harness.WorkerProcess starts it
    "batch_size": 2000,
    "batch_wait_seconds": 0.01,
    "settle_after": 0,
    "events_by_household_partitions": 4,
    "department_topic_partitions": 2,
}


# --- results --------------------------------------------------------------------------


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def publish(
    report: dict[str, Any],
    results: Path,
    name: str,
    plot: Callable[[dict[str, Any], Path], None],
    markdown_file: Path,
    heading: str,
    markdown: Callable[[dict[str, Any], Path], str],
) -> None:
    """Write a benchmark's ``name``.json and ``name``.png to ``results`` and its section."""
    json_path, png = results / f"{name}.json", results / f"{name}.png"
    report["chart"] = relative(png)
    write_json(json_path, report)
    plot(report, png)
    write_markdown(markdown_file, heading, markdown(report, png))
    print(f"-> {relative(json_path)}, {relative(png)}, {relative(markdown_file)}")


def write_markdown(path: Path, heading: str, section: str) -> None:
    """Replace (or add) the ``## heading`` section of a markdown file; Throughput first."""
    sections: dict[str, str] = {}
    if path.exists():
        current = None
        for line in path.read_text().splitlines(keepends=True):
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = ""
            if current is not None:
                sections[current] += line
    sections[heading] = section.rstrip() + "\n"
    order = sorted(sections, key=lambda h: (h != "Throughput", h != "Latency", h))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sections[h].rstrip() + "\n" for h in order))


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
