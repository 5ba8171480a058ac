"""Scale: Redis memory and per-record cost as households grow from 10,000 to 1,000,000.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py              # 10k .. 1M (about 30 min)
    PYTHONPATH=. .venv/bin/python benchmarks/scale.py --quick      # 2k and 10k (a few minutes)

Needs Redis (`scripts/services.sh up`), and Kafka for the full worker runs.
Simulating and replaying a million households is out of reach here, so:

1. A base world (``--base-households`` over ``--months``) is simulated and
   replayed on the in-process store, one arrival time after another, each
   preceded by a clock tick (as the worker's router sends them). The state just
   before the last month decision but one is kept, with the records that
   arrive from that decision until the next one (the window).
2. For each size N, that state is cloned N / base times into Redis under a
   fresh key prefix: every household, person index, held record and index
   member renamed per clone (ids of the same length, so the blobs keep their
   size), shared keys (region calendars and models, the clock) written once.
   Redis memory is measured: INFO used_memory before and after, and MEMORY
   USAGE of a sample of each kind of key.
3. A fresh engine on that Redis store decides the due month (every household
   of both regions: the cost per household decided), then takes the window's
   records, each re-targeted to one clone of its household chosen uniformly
   (the same number of records at every N: the cost per record), each arrival
   time preceded by its tick (the daily upkeep: held records, late months).
4. At the smaller sizes (``--worker-sizes``), one real ``lifeline worker``
   does the same on a cloned state under its own namespace: the window's
   department files are sent to its topics (as raw lines, so they reach the
   original households, clone 0), timed until its saved positions reach the
   end of every topic.

Every size's keys are deleted afterwards (and on failure). Results:
benchmarks/results/scale.json, scale-cost.png, scale-memory.png and the
measured part of benchmarks/scale.md (``--quick``: scale-quick.*, no markdown).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/scale.py` without PYTHONPATH
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import orjson  # noqa: E402
import redis  # noqa: E402

from connectors.cli_base import SIMULATION_START  # noqa: E402
from connectors.cli_engine import world_warmup_end  # noqa: E402
from connectors.feed import arrivals  # noqa: E402
from connectors.files import Reject, ingest_file  # noqa: E402
from connectors.redis_store import RedisStore  # noqa: E402
from connectors.replay import Delivery, plan_deliveries  # noqa: E402
from connectors.simulate import load_simulator_settings, simulate  # noqa: E402
from detectors.catalog import load_engine_config  # noqa: E402
from engine import events as ev  # noqa: E402
from engine.directory import decode_index  # noqa: E402
from engine.identity import PSEUDONYM_PATTERN  # noqa: E402
from engine.routing import Tick  # noqa: E402
from engine.store import MemoryStore, hash_tag  # noqa: E402

# The worker's tests and this benchmark pseudonymise with the same key, so the
# cloned state's first copy is what `lifeline worker` resolves raw records to.
from tests.integration.worker_harness import CATALOG, PSEUDONYMISER  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MARKDOWN = ROOT / "benchmarks" / "scale.md"
REDIS_URL = os.environ.get("LIFELINE_REDIS_URL", "redis://127.0.0.1:16379/0")
BOOTSTRAP = os.environ.get("LIFELINE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)
TARGET_BYTES, GOAL_BYTES = 2048, 512  # per household: the target, and where it is heading
TARGET_SPREAD = 0.20  # per-record cost within 20% from the smallest size to the largest
COUNTRY_HOUSEHOLDS = 20_000_000
PROVINCE_HOUSEHOLDS = 1_000_000  # DOMAIN.md: "a province a million or more"
PROVINCE_RECORDS = 10_000_000  # a month of a province's records (issue 5's example)
PROVINCE_REGIONS = (100, 200)  # docs/operations.md: counties per province
PERSON = re.compile(PSEUDONYM_PATTERN)
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
WRITE_CHUNK = 1000  # key-value pairs per MSET, members per SADD


def say(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the base world ---------------------------------------------------------------------


@dataclass
class Group:
    """What arrived at one time: the files and their events."""

    received_at: str
    deliveries: list[Delivery]
    events: list[ev.Event]


@dataclass
class Base:
    households: int  # households in the kept state
    simulated: int
    months: int
    events: int  # replayed
    replay_seconds: float
    state: MemoryStore  # just before the decision tick
    decision: str  # the arrival time whose tick decides
    window: list[Group]  # from the decision until the next one (not included)
    backfill_until: str | None
    records_per_household_month: float


def _snapshot(store: MemoryStore) -> MemoryStore:
    # Blobs are immutable bytes: a shallow copy of the dicts is a full snapshot.
    return MemoryStore(dict(store.values), {k: set(v) for k, v in store.indexes.items()})


def build_base(households: int, months: int, seed: int, work: Path) -> Base:
    world = work / "world"
    began = time.perf_counter()
    simulate(
        load_simulator_settings(ROOT / "config" / "simulator.toml"),
        households,
        months,
        seed,
        world,
        SIMULATION_START,
    )
    say(
        f"simulated {households} households x {months} months in "
        f"{time.perf_counter() - began:.0f} s"
    )
    folder = world / "departments"
    backfill = world_warmup_end((folder,))
    store = MemoryStore()
    engine = load_engine_config(ROOT / "config").engine(store, backfill)
    # (the state just before the tick, the index of its arrival time): the last two
    decisions: list[tuple[MemoryStore, int]] = []
    replayed, began = 0, time.perf_counter()
    for number, step in enumerate(arrivals(plan_deliveries(folder))):
        events, moment = _events(step)
        before = _snapshot(store)
        ticked = engine.process([Tick(moment)], settle=False)
        if ticked.counts["months_decided"]:
            decisions = [*decisions[-1:], (before, number)]
        result = engine.process(events, settle=False)
        if result.counts["months_decided"]:  # never: the tick decided first
            raise RuntimeError(f"a month was decided inside the batch at {moment}")
        replayed += len(events)
        if number % 100 == 0:
            say(f"  base replay: {replayed} events, {moment[:10]}")
    if len(decisions) < 2:
        raise SystemExit(f"the base world ({months} months) has fewer than two month decisions")
    # The window runs from the last decision but one to the last (not included):
    # rebuild it from the groups kept since the last decision but one.
    (state, first), (_, last) = decisions
    window = _window(folder, first, last)  # read again: cheaper than keeping every batch
    household_count = len([k for k in state.values if k.startswith("hh:") and ":outbox" not in k])
    window_records = sum(len(g.events) for g in window)
    return Base(
        households=household_count,
        simulated=households,
        months=months,
        events=replayed,
        replay_seconds=time.perf_counter() - began,
        state=state,
        decision=window[0].received_at,
        window=window,
        backfill_until=backfill,
        records_per_household_month=window_records / household_count,
    )


def _events(step: Sequence[Delivery]) -> tuple[list[ev.Event], str]:
    """The events of one arrival time's files (rejects left out), and that time."""
    events = [
        item
        for delivery in step
        for item in ingest_file(
            delivery.path, CATALOG, PSEUDONYMISER, received_at=delivery.received_at
        )
        if not isinstance(item, Reject)
    ]
    return events, events[0].received_at if events else step[0].received_at.isoformat()


def _window(folder: Path, first: int, last: int) -> list[Group]:
    out = []
    for step in arrivals(plan_deliveries(folder))[first:last]:
        events, moment = _events(step)
        out.append(Group(moment, step, events))
    return out


# --- clones -----------------------------------------------------------------------------


class Template:
    """Bytes with the ids they name cut out, to be written again for each clone.

    Clone ids have the same length as the originals, so a msgpack blob (or the
    contract JSON of a held record inside one) stays valid and the same size.
    """

    __slots__ = ("parts", "slots")

    def __init__(self, blob: bytes, ids: Iterable[bytes]) -> None:
        hits = sorted((at, i) for i in set(ids) for at in _positions(blob, i))
        self.parts: list[bytes] = []
        self.slots: list[bytes] = []
        start = 0
        for at, ident in hits:
            if at < start:
                continue
            self.parts.append(blob[start:at])
            self.slots.append(ident)
            start = at + len(ident)
        self.parts.append(blob[start:])

    def render(self, names: dict[bytes, bytes]) -> bytes:
        if not self.slots:
            return self.parts[0]
        out = [self.parts[0]]
        for ident, part in zip(self.slots, self.parts[1:], strict=True):
            out += (names[ident], part)
        return b"".join(out)


def _positions(blob: bytes, ident: bytes) -> Iterator[int]:
    at = blob.find(ident)
    while at >= 0:
        yield at
        at = blob.find(ident, at + len(ident))


def _strings(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _strings(key, found)
            _strings(item, found)
    elif isinstance(value, bytes | bytearray):  # a held record: its contract JSON
        try:
            _strings(orjson.loads(value), found)
        except orjson.JSONDecodeError:
            pass


def _encode(number: int, alphabet: str, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, len(alphabet))
        digits.append(alphabet[digit])
    if number:
        raise ValueError(f"clone number too large for {width} characters")
    return "".join(reversed(digits))


@dataclass
class ClonePlan:
    """The base state as templates: per-clone keys, index members, shared keys."""

    households: list[str]
    persons: list[str]
    per_clone: list[tuple[Template, Template]]  # (key, value)
    members: dict[str, list[Template]]  # index -> members named after a clone's ids
    shared: dict[str, bytes]
    shared_members: dict[str, list[str]]
    kinds: Counter[str] = field(default_factory=Counter)  # per-clone keys by kind
    blob_bytes: Counter[str] = field(default_factory=Counter)  # their value bytes

    def names(self, clone: int) -> dict[bytes, bytes]:
        """Every base id and its name in ``clone`` (clone 0 keeps the originals)."""
        if clone == 0:
            return {i.encode(): i.encode() for i in (*self.households, *self.persons)}
        out: dict[bytes, bytes] = {}
        for number, household in enumerate(self.households):
            # Case numbers allow [A-Za-z0-9_-]; '_' marks a clone.
            code = "_" + _encode(clone * len(self.households) + number, BASE36, 7)
            renamed = household[: len(household) - len(code)] + code
            out[household.encode()] = (
                renamed if len(household) > len(code) else household + code
            ).encode()
        for number, person in enumerate(self.persons):
            # A pseudonym's tail is base32: the clone's number replaces its last 7 characters.
            code = _encode(clone * len(self.persons) + number, BASE32, 7)
            out[person.encode()] = (person[: -len(code)] + code).encode()
        return out


def plan_clones(state: MemoryStore) -> ClonePlan:
    households = {hash_tag(k) for k in state.values if k.startswith("hh:")}
    for index, members in state.indexes.items():
        if index.endswith(":households"):
            households |= members
    owners = {hash_tag(k) for k in state.values if k.startswith(("ps:", "pd:"))}
    households |= {o.removeprefix("household:") for o in owners if o.startswith("household:")}
    persons = {o for o in owners if PERSON.match(o)}
    decoded: dict[str, set[str]] = {}
    owned = households | persons
    for key, blob in state.values.items():
        if hash_tag(key).removeprefix("household:") in owned:
            found: set[str] = set()
            _strings(msgspec.msgpack.decode(blob), found)
            persons |= {s for s in found if PERSON.match(s)}
            decoded[key] = found
    known = households | persons

    def ids(strings: Iterable[str]) -> list[bytes]:
        out = []
        for s in strings:
            inner = s.removeprefix("household:")
            if inner in known:
                out.append(inner.encode())
        return out

    plan = ClonePlan(sorted(households), sorted(persons), [], {}, {}, {})
    for key, blob in sorted(state.values.items()):
        tag = hash_tag(key)
        if key in decoded:
            plan.per_clone.append(
                (Template(key.encode(), ids([tag])), Template(blob, ids(decoded[key])))
            )
            kind = "outbox" if key.endswith(":outbox") else key.split(":", 1)[0]
            plan.kinds[kind] += 1
            plan.blob_bytes[kind] += len(blob)
        else:
            plan.shared[key] = blob
    for index, members in sorted(state.indexes.items()):
        for member in sorted(members):
            named = ids([member])
            if named:
                plan.members.setdefault(index, []).append(Template(member.encode(), named))
            else:
                plan.shared_members.setdefault(index, []).append(member)
    names = plan.names(1)
    if len(set(names.values()) | set(plan.names(0))) != 2 * len(names):
        raise RuntimeError("clone ids collide with the originals: change the naming")
    return plan


def write_clones(client: redis.Redis, prefix: str, plan: ClonePlan, clones: int) -> int:
    """Every clone's keys and index members, pipelined; returns the commands sent."""
    raw = prefix.encode()
    commands = 0
    pipe = client.pipeline(transaction=False)

    def flush(force: bool = False) -> None:
        if force or len(pipe.command_stack) >= 20:
            pipe.execute()

    for key, blob in plan.shared.items():
        pipe.set(raw + key.encode(), blob)
    for index, members in plan.shared_members.items():
        if members:
            pipe.sadd(raw + index.encode(), *members)
    for clone in range(clones):
        names = plan.names(clone)
        pairs: list[bytes] = []
        for key, value in plan.per_clone:
            pairs += (raw + key.render(names), value.render(names))
            if len(pairs) >= 2 * WRITE_CHUNK:
                pipe.execute_command("MSET", *pairs)
                commands, pairs = commands + 1, []
                flush()
        if pairs:
            pipe.execute_command("MSET", *pairs)
            commands += 1
        for index, templates in plan.members.items():
            members = [t.render(names) for t in templates]
            for start in range(0, len(members), WRITE_CHUNK):
                pipe.sadd(raw + index.encode(), *members[start : start + WRITE_CHUNK])
                commands += 1
        flush()
        if clone and clone % 10 == 0:
            say(f"  cloned {clone} of {clones}")
    flush(force=True)
    return commands


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=prefix.replace("*", r"\*") + "*", count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


# --- re-targeting the window's records --------------------------------------------------


def retarget(
    window: Sequence[Group], state: MemoryStore, plan: ClonePlan, clones: int, seed: int
) -> list[list[ev.Event]]:
    """The window's events, each household's records sent to one of its clones at random."""
    rng = random.Random(f"scale:{seed}:{clones}")
    chosen: dict[str, int] = {}
    names: dict[int, dict[bytes, bytes]] = {}
    known = set(plan.households) | set(plan.persons)
    homes: dict[str, str] = {}

    def owner(event: ev.Event) -> str:
        household = getattr(event, "household", None)
        if household:
            return str(household)
        person = str(getattr(event, "person", ""))
        if person not in homes:
            found = decode_index(state.values.get(f"ps:{{{person}}}")).households()
            homes[person] = found[0] if found else person
        return homes[person]

    out = []
    for group in window:
        batch = []
        for event in group.events:
            who = owner(event)
            if who not in chosen:
                chosen[who] = rng.randrange(clones)
            clone = chosen[who]
            if clone == 0:
                batch.append(event)
                continue
            if clone not in names:
                names[clone] = plan.names(clone)
            blob = ev.encode(event)
            found: set[str] = set()
            _strings(orjson.loads(blob), found)
            template = Template(blob, [s.encode() for s in found & known])
            batch.append(ev.decode_event(template.render(names[clone])))
        out.append(batch)
    return out


# --- measuring one size ------------------------------------------------------------------


def redis_figures(client: redis.Redis) -> dict[str, float]:
    memory, cpu = client.info("memory"), client.info("cpu")
    return {
        "used_memory": float(memory["used_memory"]),
        "cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
    }


def reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def rss_mib(field_name: str = "VmHWM") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def memory_sample(
    client: redis.Redis, prefix: str, plan: ClonePlan, clones: int, rng: random.Random
) -> dict[str, Any]:
    """MEMORY USAGE per household: a sample of each per-clone kind, indexes and shared keys."""
    by_kind: dict[str, list[int]] = {}
    pipe = client.pipeline(transaction=False)
    kinds = []
    for clone in rng.sample(range(clones), min(4, clones)):
        names = plan.names(clone)
        for pick in rng.sample(range(len(plan.per_clone)), min(1000, len(plan.per_clone))):
            key = plan.per_clone[pick][0].render(names)
            kinds.append("outbox" if key.endswith(b":outbox") else key.split(b":", 1)[0].decode())
            pipe.memory_usage(prefix.encode() + key, samples=0)
    for kind, usage in zip(kinds, pipe.execute(), strict=True):
        if usage is not None:
            by_kind.setdefault(kind, []).append(int(usage))
    households = clones * len(plan.households)
    parts = {
        kind: sum(values) / len(values) * plan.kinds[kind] * clones / households
        for kind, values in by_kind.items()
    }
    indexes = 0
    for index in set(plan.members) | set(plan.shared_members):
        indexes += int(client.memory_usage(prefix + index, samples=0) or 0)
    shared = sum(int(client.memory_usage(prefix + k, samples=0) or 0) for k in plan.shared)
    parts["index_sets"] = indexes / households
    parts["shared"] = shared / households
    return {
        "per_household": round(sum(parts.values())),
        "parts": {k: round(v, 1) for k, v in sorted(parts.items())},
        "mean_key_bytes": {k: round(sum(v) / len(v)) for k, v in sorted(by_kind.items())},
        "keys_per_household": {
            k: round(plan.kinds[k] / len(plan.households), 3) for k in sorted(plan.kinds)
        },
        "mean_blob_bytes": {
            k: round(plan.blob_bytes[k] / plan.kinds[k]) for k in sorted(plan.kinds)
        },
    }


@dataclass
class Timer:
    seconds: float = 0.0
    cpu: float = 0.0
    redis_cpu: float = 0.0
    calls: int = 0
    alerts: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def run(self, client: redis.Redis, work: Callable[[], Any]) -> Any:
        before_redis = redis_figures(client)["cpu"]
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.seconds += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.redis_cpu += redis_figures(client)["cpu"] - before_redis
        self.calls += 1
        self.alerts += len(result.alerts)
        self.counts.update(result.counts)
        return result


def measure_size(
    client: redis.Redis,
    base: Base,
    plan: ClonePlan,
    target: int,
    seed: int,
    earlier: Sequence[dict[str, Any]] = (),
    decide_up_to: int | None = None,
) -> dict[str, Any]:
    clones = max(1, round(target / base.households))
    households = clones * base.households
    prefix = f"scale:{uuid.uuid4().hex[:10]}:"
    rng = random.Random(f"scale-sample:{seed}:{clones}")
    say(f"N={households:,} ({clones} clones of {base.households}) under {prefix}")
    row: dict[str, Any] = {"target": target, "households": households, "clones": clones}
    row["prefix"] = prefix
    try:
        batches = retarget(base.window, base.state, plan, clones, seed)
        before = redis_figures(client)
        began = time.perf_counter()
        commands = write_clones(client, prefix, plan, clones)
        took = time.perf_counter() - began
        after = redis_figures(client)
        keys = clones * len(plan.per_clone) + len(plan.shared)
        row["clone"] = {
            "seconds": round(took, 1),
            "keys": keys,
            "commands": commands,
            "keys_per_second": round(keys / took),
        }
        row["used_memory_per_household"] = round(
            (after["used_memory"] - before["used_memory"]) / households
        )
        row["memory_usage"] = memory_sample(client, prefix, plan, clones, rng)
        say(
            f"  cloned {keys:,} keys in {took:.0f} s; used_memory "
            f"+{(after['used_memory'] - before['used_memory']) / 2**20:.0f} MiB = "
            f"{row['used_memory_per_household']} B/household; MEMORY USAGE "
            f"{row['memory_usage']['per_household']} B/household"
        )

        engine = load_engine_config(ROOT / "config").engine(
            RedisStore(client, prefix), base.backfill_until
        )
        need = decision_memory(earlier, households)
        if need > 0.7 * _free_mib():
            # One step holds every household of a region (loaded, decoded, written
            # back in one transaction): say so rather than push the machine into swap.
            # Without the decision the window's records would decide it: memory only.
            row["skipped"] = f"the decision would need about {need:,.0f} MiB more memory"
        elif decide_up_to is not None and households > decide_up_to:
            row["skipped"] = f"decisions measured up to {decide_up_to:,} households"
        if "skipped" in row:
            say(f"  {row['skipped']}: memory measured only")
            return row
        decision = Timer()
        resident = rss_mib("VmRSS")
        reset_peak_rss()
        decision.run(client, lambda: engine.process([Tick(base.decision)], settle=False))
        decided_rss = rss_mib()
        say(
            f"  decided {decision.counts['months_decided']} region-months over "
            f"{households:,} households in {decision.seconds:.1f} s "
            f"({decision.seconds / households * 1e6:.0f} us/household, peak RSS "
            f"{decided_rss:.0f} MiB)"
        )

        ticks, records = Timer(), Timer()
        reset_peak_rss()
        for number, (group, batch) in enumerate(zip(base.window, batches, strict=True)):
            if number:  # (the first arrival time's tick was the decision)
                ticks.run(
                    client, lambda g=group: engine.process([Tick(g.received_at)], settle=False)
                )
            records.run(client, lambda b=batch: engine.process(b, settle=False))
        applied = sum(len(b) for b in batches)
        say(
            f"  {applied:,} records in {records.seconds:.1f} s "
            f"({records.seconds / applied * 1e6:.0f} us/record), {ticks.calls} ticks "
            f"{ticks.seconds:.1f} s"
        )
        if ticks.counts["months_decided"] or records.counts["months_decided"]:
            say("  warning: a month was decided inside the window")
        row["decision"] = {
            "seconds": round(decision.seconds, 2),
            "us_per_household": round(decision.seconds / households * 1e6, 1),
            "cpu_us_per_household": round(decision.cpu / households * 1e6, 1),
            "redis_cpu_us_per_household": round(decision.redis_cpu / households * 1e6, 1),
            "months_decided": decision.counts["months_decided"],
            "alert_revisions": decision.alerts,
            "counts": dict(sorted(decision.counts.items())),
            "rss_before_mib": resident,
            "peak_rss_mib": decided_rss,
        }
        row["records"] = {
            "records": applied,
            "seconds": round(records.seconds, 2),
            "us_per_record": round(records.seconds / applied * 1e6, 1),
            "cpu_us_per_record": round(records.cpu / applied * 1e6, 1),
            "redis_cpu_us_per_record": round(records.redis_cpu / applied * 1e6, 1),
            "batches": records.calls,
            "alert_revisions": records.alerts,
            "held": records.counts["held"],
            "peak_rss_mib": rss_mib(),
            "outcomes": {
                k: v for k, v in sorted(records.counts.items()) if k.startswith("applied:")
            },
        }
        row["ticks"] = {
            "ticks": ticks.calls,
            "seconds": round(ticks.seconds, 2),
            "cpu_us_per_record": round((ticks.cpu + ticks.redis_cpu) / applied * 1e6, 1),
            "ms_per_tick": round(ticks.seconds / max(ticks.calls, 1) * 1e3, 1),
            "us_per_record": round(ticks.seconds / applied * 1e6, 1),
        }
        row["load_average"] = round(os.getloadavg()[0], 2)
        return row
    finally:
        gone = delete_prefix(client, prefix)
        say(f"  deleted {gone:,} keys under {prefix}")


def decision_memory(earlier: Sequence[dict[str, Any]], households: int) -> float:
    """MiB a decision over ``households`` would add to this process, from the largest
    earlier one (0 when none was measured)."""
    measured = [r for r in earlier if "decision" in r]
    if not measured:
        return 0.0
    largest = measured[-1]
    grew = largest["decision"]["peak_rss_mib"] - largest["decision"]["rss_before_mib"]
    return float(grew) / largest["households"] * households


# --- the full worker --------------------------------------------------------------------


def measure_worker(
    client: redis.Redis, base: Base, plan: ClonePlan, target: int, redis_url: str, logs: Path
) -> dict[str, Any]:
    """One `lifeline worker` on a cloned state: the window's files from its topics."""
    from connectors.feed import Feeder
    from tests.integration.worker_harness import DEPARTMENTS, Deployment, WorkerProcess

    clones = max(1, round(target / base.households))
    households = clones * base.households
    deployment = Deployment(BOOTSTRAP, redis_url)
    say(f"worker at N={households:,} under {deployment.namespace}")
    deployment.create()
    worker = WorkerProcess(deployment, logs, name=f"scale-{clones}")
    try:
        write_clones(client, deployment.namespace, plan, clones)
        worker.start()
        worker.wait_until_serving()
        deadline = time.monotonic() + 120
        while not worker.health()[1].get("partitions") and time.monotonic() < deadline:
            time.sleep(0.2)  # the consumer group assigned its partitions
        feeder = Feeder(BOOTSTRAP, deployment.topics, CATALOG, PSEUDONYMISER, DEPARTMENTS)
        store = deployment.store()
        began = time.monotonic()
        for group in base.window:
            feeder.send(group.deliveries)
        feeder.wait(store, deployment.app, timeout=3600, alive=worker.alive)
        seconds = time.monotonic() - began
        feeder.close()
        say(
            f"  worker: {feeder.lines:,} lines (and the decision over {households:,} "
            f"households) in {seconds:.1f} s"
        )
        return {
            "households": households,
            "clones": clones,
            "lines": feeder.lines,
            "seconds": round(seconds, 1),
            "lines_per_second": round(feeder.lines / seconds),
            # The worker runs a failing batch again record by record: not a fair rate.
            "records_set_aside": worker.log_text().count("set aside"),
        }
    finally:
        if worker.alive():
            worker.stop()
        deployment.delete()
        delete_prefix(client, deployment.namespace)


# --- projection, results ----------------------------------------------------------------


def rates(row: dict[str, Any]) -> dict[str, float]:
    """Seconds per record (with its share of the ticks) and per household decided: wall
    time on this busy machine, and CPU (this process plus Redis) as on cores of its own."""
    rec, tick, dec = row["records"], row["ticks"], row["decision"]
    return {
        "wall_record": (rec["us_per_record"] + tick["us_per_record"]) / 1e6,
        "cpu_record": (
            rec["cpu_us_per_record"] + rec["redis_cpu_us_per_record"] + tick["cpu_us_per_record"]
        )
        / 1e6,
        "redis_record": rec["redis_cpu_us_per_record"] / 1e6,
        "wall_household": dec["us_per_household"] / 1e6,
        "cpu_household": (dec["cpu_us_per_household"] + dec["redis_cpu_us_per_household"]) / 1e6,
        "redis_household": dec["redis_cpu_us_per_household"] / 1e6,
    }


def bytes_per_household(row: dict[str, Any]) -> int:
    return int(max(row["used_memory_per_household"], row["memory_usage"]["per_household"]))


def project(
    rows: list[dict[str, Any]], base: Base, workers: list[dict[str, Any]]
) -> dict[str, Any]:
    """A province's month and the country's memory, from the largest sizes measured.

    Time: records x cost per record + households x cost per household decided, for
    one worker; divided by the workers while each has whole counties to own (a
    county is one partition's: at most one worker per county, 100 to 200 per
    province). Memory: bytes per household x households, one copy.
    """
    timed = [r for r in rows if "decision" in r]
    largest = timed[-1]
    rate = rates(largest)
    implied_records = round(PROVINCE_HOUSEHOLDS * base.records_per_household_month)
    worker_factor = None
    for measured in workers:
        same = next((r for r in timed if r["households"] == measured["households"]), None)
        if same:
            parts = (same["decision"], same["records"], same["ticks"])
            worker_factor = round(measured["seconds"] / sum(p["seconds"] for p in parts), 2)
    cases = []
    for records in (PROVINCE_RECORDS, implied_records):
        for count in (1, 4, 16, 48, 100):
            share = min(count, PROVINCE_REGIONS[0])

            def minutes(kind: str, records: int = records, share: int = share) -> float:
                one = (
                    records * rate[f"{kind}_record"]
                    + PROVINCE_HOUSEHOLDS * rate[f"{kind}_household"]
                )
                return one / share / 60

            redis = minutes("redis") * share  # Redis's own CPU, all workers together
            cases.append(
                {
                    "records": records,
                    "workers": count,
                    "wall_minutes": round(minutes("wall"), 1),
                    "cpu_minutes": round(minutes("cpu"), 1),
                    "worker_minutes": round(minutes("wall") * worker_factor, 1)
                    if worker_factor
                    else None,
                    "redis_cores": round(redis / minutes("cpu"), 2),
                }
            )
    per_household = bytes_per_household(rows[-1])
    return {
        "from_households": largest["households"],
        "memory_from_households": rows[-1]["households"],
        "rates": {k: round(v * 1e6, 1) for k, v in rate.items()},  # microseconds
        "bytes_per_household": per_household,
        "country_households": COUNTRY_HOUSEHOLDS,
        "country_gib": round(COUNTRY_HOUSEHOLDS * per_household / 2**30, 1),
        "province_households": PROVINCE_HOUSEHOLDS,
        "province_gib": round(PROVINCE_HOUSEHOLDS * per_household / 2**30, 2),
        "records_per_household_month": round(base.records_per_household_month, 2),
        "worker_over_engine": worker_factor,
        "province_month": cases,
    }


def verdicts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    timed = [r for r in rows if "decision" in r]
    first, last = rates(timed[0]), rates(timed[-1])

    def change(kind: str) -> float:
        return round(last[kind] / first[kind] - 1, 3)

    wall, cpu = change("wall_record"), change("cpu_record")
    bytes_last = bytes_per_household(rows[-1])
    return {
        "from_households": timed[0]["households"],
        "to_households": timed[-1]["households"],
        "per_record_change_wall": wall,
        "per_record_change_cpu": cpu,
        "per_record_within_20_percent": abs(wall) <= TARGET_SPREAD and abs(cpu) <= TARGET_SPREAD,
        "per_household_decided_change_wall": change("wall_household"),
        "per_household_decided_change_cpu": change("cpu_household"),
        "bytes_per_household": bytes_last,
        "bytes_at_households": rows[-1]["households"],
        "within_2_kib": bytes_last <= TARGET_BYTES,
        "within_512_bytes": bytes_last <= GOAL_BYTES,
    }


def plots(report: dict[str, Any], out: Path, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = report["sizes"]
    timed = [r for r in rows if "decision" in r]
    n = [r["households"] for r in timed]
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for axis, kind, title, unit in (
        (left, "record", "Records (the same number at every N)", "record"),
        (right, "household", "Month decision (every household)", "household decided"),
    ):
        wall = [rates(r)[f"wall_{kind}"] * 1e6 for r in timed]
        cpu = [rates(r)[f"cpu_{kind}"] * 1e6 for r in timed]
        axis.plot(n, wall, "o-", label="wall (busy shared machine)")
        axis.plot(n, cpu, "s--", label="CPU: engine + Redis")
        for values, color in ((wall, "C0"), (cpu, "C1")):
            axis.axhline(values[0] * (1 + TARGET_SPREAD), color=color, ls=":", lw=1)
        axis.plot([], [], "k:", lw=1, label=f"target: +{TARGET_SPREAD:.0%} of N={n[0]:,}")
        axis.set(xscale="log", xlabel="households in Redis", ylim=(0, None), title=title)
        axis.set_ylabel(f"µs per {unit}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    cost = out / f"{stem}-cost.png"
    figure.savefig(cost, dpi=110)
    pyplot.close(figure)

    everyone = [r["households"] for r in rows]
    figure, axis = pyplot.subplots(figsize=(6.5, 4.2))
    axis.plot(
        everyone,
        [r["used_memory_per_household"] for r in rows],
        "o-",
        label="INFO used_memory delta / N",
    )
    axis.plot(
        everyone,
        [r["memory_usage"]["per_household"] for r in rows],
        "s--",
        label="MEMORY USAGE of sampled keys",
    )
    axis.axhline(TARGET_BYTES, color="red", ls=":", label="target 2 KiB")
    axis.axhline(GOAL_BYTES, color="green", ls=":", label="goal 512 B")
    axis.set(
        xscale="log",
        xlabel="households in Redis",
        ylabel="bytes per household",
        title="Redis memory per household",
        ylim=(0, None),
    )
    axis.legend(fontsize=8)
    figure.tight_layout()
    memory = out / f"{stem}-memory.png"
    figure.savefig(memory, dpi=110)
    pyplot.close(figure)
    return [cost, memory]


BEGIN, END = "<!-- scale:measured -->", "<!-- /scale:measured -->"


def within(ok: bool) -> str:
    return "within" if ok else "outside"


def _row(r: dict[str, Any]) -> str:
    memory = f"| {r['households']:,} | {r['clone']['seconds']} | {r['used_memory_per_household']} "
    memory += f"| {r['memory_usage']['per_household']} "
    if "decision" not in r:
        return memory + "| - | - | - | - | - | skipped: " + r["skipped"] + " |"
    rate = {k: round(v * 1e6) for k, v in rates(r).items()}
    d = r["decision"]
    return (
        memory + f"| {rate['wall_record']} | {rate['cpu_record']} | {rate['wall_household']} "
        f"| {rate['cpu_household']} | {d['seconds']} | {d['peak_rss_mib']:.0f} |"
    )


def markdown(report: dict[str, Any]) -> str:
    base, p, v = report["base"], report["projection"], report["verdicts"]
    lines = [
        BEGIN,
        f"Measured {report['date']} on {report['machine']} (load average "
        f"{report['load_average']} at the end), Redis {report['redis_version']}; base world "
        f"{base['households']:,} households over {base['months']} months, "
        f"{base['window_records']:,} records in the window "
        f"({base['records_per_household_month']} per household); "
        f"whole run {report['seconds'] / 60:.0f} min. Wall: on this busy shared machine; "
        "CPU: this process plus Redis (what one dedicated core each would take).",
        "",
        "| households | clone s | used_memory B/hh | MEMORY USAGE B/hh | µs/record wall "
        "| µs/record CPU | µs/household decided wall | CPU | decision s | peak RSS MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(_row(r) for r in report["sizes"]),
    ]
    last = report["sizes"][-1]["memory_usage"]
    lines += [
        "",
        f"Per household at {report['sizes'][-1]['households']:,} (MEMORY USAGE, bytes): "
        + ", ".join(f"{k} {v}" for k, v in last["parts"].items())
        + f"; keys per household {last['keys_per_household']}; value bytes "
        f"{last['mean_blob_bytes']}; bytes per key {last['mean_key_bytes']}.",
        "",
        f"Targets, from {v['from_households']:,} to {v['to_households']:,} households: "
        f"per-record cost {v['per_record_change_wall']:+.1%} wall, "
        f"{v['per_record_change_cpu']:+.1%} CPU ({within(v['per_record_within_20_percent'])} "
        f"20%); per household decided {v['per_household_decided_change_wall']:+.1%} wall, "
        f"{v['per_household_decided_change_cpu']:+.1%} CPU; "
        f"{v['bytes_per_household']} bytes per household at {v['bytes_at_households']:,} "
        f"({within(v['within_2_kib'])} 2 KiB, {within(v['within_512_bytes'])} 512 B).",
    ]
    if report["workers"]:
        lines += [
            "",
            "| full worker: households | lines | seconds | lines/s |",
            "| ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {w['households']:,} | {w['lines']:,} | {w['seconds']} | {w['lines_per_second']} |"
            for w in report["workers"]
        ]
    r = p["rates"]
    lines += [
        "",
        f"Projection from {p['from_households']:,} households: {r['wall_record']:.0f} µs "
        f"per record wall ({r['cpu_record']:.0f} CPU), {r['wall_household']:.0f} µs per "
        f"household decided wall ({r['cpu_household']:.0f} CPU); memory from "
        f"{p['memory_from_households']:,}: {p['bytes_per_household']} B per household, "
        f"so {p['country_gib']} GiB of Redis for {p['country_households'] / 1e6:.0f} million "
        f"households ({p['province_gib']} GiB for a province of "
        f"{p['province_households'] / 1e6:.0f} million), one copy, no replicas.",
        "",
        "| a province's month | workers | minutes (wall rate) | minutes (CPU rate) "
        "| minutes (worker rate) | Redis cores busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in p["province_month"]:
        worker = case["worker_minutes"] if case["worker_minutes"] is not None else "-"
        lines.append(
            f"| {case['records']:,} records + {p['province_households']:,} decisions "
            f"| {case['workers']} | {case['wall_minutes']} | {case['cpu_minutes']} | {worker} "
            f"| {case['redis_cores']} |"
        )
    lines.append(END)
    return "\n".join(lines)


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    section = markdown(report)
    text = path.read_text() if path.exists() else f"## Scale\n\n{BEGIN}\n{END}\n"
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        text = text.rstrip() + f"\n\n{section}\n"
    else:
        text = text[:start] + section + text[end + len(END) :]
    path.write_text(text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="households (default 10k .. 1M)")
    parser.add_argument("--base-households", type=int, help="the base world (default 10000)")
    parser.add_argument("--months", type=int, help="the base world's months (default 24)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--worker-sizes",
        type=int,
        nargs="*",
        help="sizes for the full worker (default: those up to 30,000; none with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 2k and 10k, a 1,000 base")
    parser.add_argument(
        "--decide-up-to",
        type=int,
        help="above this many households, measure memory only (a month decision is one "
        "step over every household of a region, and its cost grows faster than N)",
    )
    parser.add_argument("--redis", default=REDIS_URL)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--markdown",
        type=Path,
        help="update this file's measured section (default benchmarks/scale.md, none with --quick)",
    )
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes or (QUICK_SIZES if args.quick else SIZES))
    base_households = args.base_households or (1000 if args.quick else 10_000)
    months = args.months or (18 if args.quick else 24)
    worker_sizes = args.worker_sizes
    if worker_sizes is None:
        worker_sizes = [] if args.quick else [s for s in sizes if s <= 30_000]
    markdown_path = args.markdown or (None if args.quick or args.out != RESULTS else MARKDOWN)
    stem = "scale-quick" if args.quick else "scale"
    started = time.perf_counter()
    client = redis.Redis.from_url(args.redis)
    client.ping()
    say(
        f"free memory {_free_mib()} MiB; Redis used_memory "
        f"{client.info('memory')['used_memory'] / 2**20:.0f} MiB"
    )
    with tempfile.TemporaryDirectory() as work:
        base = build_base(base_households, months, args.seed, Path(work))
        say(
            f"base: {base.households:,} households, {base.events:,} events replayed in "
            f"{base.replay_seconds:.0f} s; window {len(base.window)} arrival times, "
            f"{sum(len(g.events) for g in base.window):,} records from {base.decision}"
        )
        plan = plan_clones(base.state)
        say(
            f"plan: {len(plan.per_clone):,} keys per clone {dict(plan.kinds)}, "
            f"{len(plan.shared)} shared"
        )
        rows: list[dict[str, Any]] = []
        args.out.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            rows.append(measure_size(client, base, plan, size, args.seed, rows, args.decide_up_to))
            partial = args.out / f"{stem}.partial.json"  # a long run's sizes so far
            partial.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
        partial.unlink()
        workers = [
            measure_worker(client, base, plan, size, args.redis, Path(work))
            for size in worker_sizes
        ]
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {_total_mib()} MiB",
        "load_average": round(os.getloadavg()[0], 2),
        "redis_version": client.info("server")["redis_version"],
        "seconds": round(time.perf_counter() - started),
        "base": {
            "households_simulated": base.simulated,
            "households": base.households,
            "months": base.months,
            "events_replayed": base.events,
            "replay_seconds": round(base.replay_seconds, 1),
            "decision_at": base.decision,
            "window_arrival_times": len(base.window),
            "window_records": sum(len(g.events) for g in base.window),
            "records_per_household_month": round(base.records_per_household_month, 2),
            "keys_per_clone": dict(plan.kinds),
            "shared_keys": len(plan.shared),
        },
        "sizes": rows,
        "workers": workers,
        "targets": {
            "bytes_per_household": TARGET_BYTES,
            "goal_bytes": GOAL_BYTES,
            "per_record_spread": TARGET_SPREAD,
        },
    }
    report["verdicts"] = verdicts(rows)
    report["projection"] = project(rows, base, workers)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{stem}.json"
    target.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    written = [target, *plots(report, args.out, stem)]
    if markdown_path:
        write_markdown(markdown_path, report)
        written.append(markdown_path)
    say(f"done in {report['seconds'] / 60:.1f} min -> {', '.join(str(p) for p in written)}")
    return report


def _free_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return -1


def _total_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return -1


if __name__ == "__main__":
    main()
