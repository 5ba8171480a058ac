"""What a household's state is made of, in bytes, after a simulated world's replay.

    .venv/bin/python benchmarks/state_size.py --households 1000 --months 36

Replays a simulated world on the in-process store, then measures every
household blob and each part of it (msgpack, as stored): members, monthly
series, the ledger of correctable records, alert records, model numbers and
the rest. Prints the mean and the 90th percentile per part; results in
benchmarks/results/state-size.json. Redis adds about 117 bytes of key and
object overhead per household on top of the blob (MEMORY USAGE 568 for a
451-byte blob: tests/integration/test_redis_store.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from statistics import mean, quantiles

import msgspec
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.cli_engine import SIMULATION_START, world_warmup_end  # noqa: E402
from connectors.mapping import Catalog  # noqa: E402
from connectors.replay import plan_deliveries, replay  # noqa: E402
from connectors.simulate import load_simulator_settings, simulate  # noqa: E402
from detectors.catalog import load_engine_config  # noqa: E402
from engine.identity import Pseudonymiser  # noqa: E402
from engine.state import decode_state  # noqa: E402
from engine.store import MemoryStore  # noqa: E402

encode = msgspec.msgpack.Encoder().encode


def parts(blob: bytes) -> dict[str, int]:
    state = decode_state(blob)
    series = [list(m.wages) + list(m.transfers) for m in state.members] + [list(state.medical)]
    members = [msgspec.structs.replace(m, wages=[], transfers=[]) for m in state.members]
    measured = {
        "members": len(encode(members)),
        "monthly_series": len(encode(series)),
        "ledger": len(encode(state.ledger)),
        "alerts_and_cooldowns": len(encode(state.alerts)) + len(encode(state.cooldown)),
        "model_numbers": len(encode(state.models)),
    }
    measured["other"] = max(len(blob) - sum(measured.values()), 0)
    measured["total"] = len(blob)
    return measured


def _figures(values: list[int]) -> dict[str, int]:
    return {"mean": round(mean(values)), "p90": round(quantiles(values, n=10)[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        world = Path(work) / "world"
        settings = load_simulator_settings(ROOT / "config" / "simulator.toml")
        simulate(settings, args.households, args.months, 1, world, SIMULATION_START)
        config = load_engine_config(ROOT / "config")
        store = MemoryStore()
        engine = config.engine(store, world_warmup_end((world / "departments",)))
        key = Pseudonymiser("bench", b"state-size-benchmark-key")
        catalog = Catalog.load(ROOT / "config" / "connectors")
        replay(plan_deliveries(world / "departments"), catalog, key, engine)
    rows = [parts(v) for k, v in store.values.items() if k.startswith("hh:")]
    report = {name: _figures([r[name] for r in rows]) for name in rows[0]}
    report["households"] = len(rows)  # type: ignore[assignment]
    for name, figures in report.items():
        print(f"{name:<22} {figures}")
    out = ROOT / "benchmarks" / "results" / "state-size.json"
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
