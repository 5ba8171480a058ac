"""Detection quality on simulated worlds: precision, recall, F1, time to alert.

    .venv/bin/python benchmarks/quality.py --households 5000 --months 36 --seeds 1 2 3

Simulates each world (config/simulator.toml, default noise), replays it through
the engine with the shipped config (warm-up backfilled), scores the alerts
against the world's labels (connectors/evaluate.py) and writes
benchmarks/results/quality-<households>x<months>.json with one entry per seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.cli_engine import SIMULATION_START, world_warmup_end  # noqa: E402
from connectors.evaluate import load_world_labels, score  # noqa: E402
from connectors.mapping import Catalog  # noqa: E402
from connectors.replay import plan_deliveries, replay  # noqa: E402
from connectors.simulate import load_simulator_settings, simulate  # noqa: E402
from detectors.catalog import load_engine_config  # noqa: E402
from engine.identity import Pseudonymiser  # noqa: E402
from engine.store import MemoryStore  # noqa: E402


def one_world(households: int, months: int, seed: int, work: Path) -> dict[str, object]:
    world = work / f"world-{seed}"
    started = time.perf_counter()
    settings = load_simulator_settings(ROOT / "config" / "simulator.toml")
    facts = simulate(settings, households, months, seed, world, SIMULATION_START)
    simulated = time.perf_counter() - started
    config = load_engine_config(ROOT / "config")
    catalog = Catalog.load(ROOT / "config" / "connectors")
    backfill = world_warmup_end((world / "departments",))
    engine = config.engine(MemoryStore(), backfill)
    started = time.perf_counter()
    key = Pseudonymiser("bench", os.urandom(32))
    summary = replay(plan_deliveries(world / "departments"), catalog, key, engine)
    replayed = time.perf_counter() - started
    scores = score(summary.alerts, *load_world_labels(world / "labels.jsonl"))
    return {
        "seed": seed,
        "households": facts.households,
        "months": months,
        "labels": sum(facts.labels.values()),
        "events": summary.events,
        "simulate_seconds": round(simulated, 1),
        "replay_seconds": round(replayed, 1),
        "events_per_second": round(summary.events / replayed),
        "config_version": config.version,
        "quality": {name: dataclasses.asdict(s) for name, s in scores.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as work:
        for seed in args.seeds:
            result = one_world(args.households, args.months, seed, Path(work))
            results.append(result)
            print(
                f"seed {seed}: {result['events']} events in {result['replay_seconds']} s",
                flush=True,
            )
            for q in result["quality"].values():  # type: ignore[attr-defined]
                print(
                    f"  {q['detector']:<22} alerts {q['alerts']:>5}  "
                    f"precision {q['precision']:.3f}  recall {q['recall']:.3f}  "
                    f"labels {q['labels']:>4}  days p50 {q['days_to_alert_median']}",
                    flush=True,
                )
    out = ROOT / "benchmarks" / "results" / f"quality-{args.households}x{args.months}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
