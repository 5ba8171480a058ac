"""Replay throughput and memory: does memory grow with households, not events?

    .venv/bin/python benchmarks/replay_scale.py --households 13000 --months 36 18

For each length, simulates the same households (same seed) over that many
months, normalises the files into one events file (contract JSON lines), then
runs `lifeline replay --events` on it in a fresh process (in-process store) and
reads back its summary: events per second, households, state bytes and the
process's peak memory. Results: benchmarks/results/replay-scale.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.cli_base import SIMULATION_START  # noqa: E402
from connectors.files import Reject, ingest_file  # noqa: E402
from connectors.mapping import Catalog  # noqa: E402
from connectors.replay import plan_deliveries  # noqa: E402
from connectors.simulate import load_simulator_settings, simulate  # noqa: E402
from engine.events import encode  # noqa: E402
from engine.identity import Pseudonymiser  # noqa: E402

REPORTED = (
    "seconds",
    "events_per_second",
    "households",
    "state_bytes",
    "state_bytes_per_household",
    "peak_rss_mib",
)


def events_file(households: int, months: int, work: Path) -> tuple[Path, int]:
    world = work / f"world-{months}"
    settings = load_simulator_settings(ROOT / "config" / "simulator.toml")
    simulate(settings, households, months, 1, world, SIMULATION_START)
    catalog = Catalog.load(ROOT / "config" / "connectors")
    key = Pseudonymiser("bench", b"replay-scale-benchmark-key")
    path, count = work / f"events-{months}.jsonl", 0
    with path.open("wb") as out:
        for delivery in plan_deliveries(world / "departments"):
            for item in ingest_file(delivery.path, catalog, key, received_at=delivery.received_at):
                if not isinstance(item, Reject):
                    out.write(encode(item) + b"\n")
                    count += 1
    return path, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=13000)
    parser.add_argument("--months", type=int, nargs="+", default=[36, 18])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as work:
        for months in args.months:
            started = time.perf_counter()
            path, count = events_file(args.households, months, Path(work))
            prepared = time.perf_counter() - started
            out = Path(work) / f"replay-{months}"
            command = [sys.executable, "-m", "connectors.cli", "replay", "--events", str(path)]
            command += ["--out", str(out), "--json"]
            subprocess.run(command, check=True, cwd=ROOT, capture_output=True, env={**os.environ})
            summary = orjson.loads((out / "summary.json").read_bytes())
            row = {
                "households_simulated": args.households,
                "months": months,
                "events": count,
                "prepare_seconds": round(prepared, 1),
                **{k: summary[k] for k in REPORTED},
            }
            results.append(row)
            print(orjson.dumps(row).decode(), flush=True)
    target = ROOT / "benchmarks" / "results" / "replay-scale.json"
    target.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"-> {target}")


if __name__ == "__main__":
    main()
