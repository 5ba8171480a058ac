"""``python -m connectors.simulate``: write one world, for trying the simulator by hand.

python -m connectors.simulate --households 200 --months 24 --seed 1 --out /tmp/world
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from connectors.simulate import DEFAULT_CONFIG, SimulatorError, load_simulator_settings, simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.simulate", description=__doc__)
    parser.add_argument("--households", type=int, required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start-month", default="2023-01")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    try:
        settings = load_simulator_settings(args.config)
    except SimulatorError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    summary = simulate(
        settings, args.households, args.months, args.seed, args.out, args.start_month
    )
    took = time.perf_counter() - began
    print(
        f"{summary.households} households, {summary.months} months "
        f"({summary.start_month} to {summary.end_month}), seed {summary.seed}: "
        f"{summary.files['count']} files, {summary.files['bytes'] / 1e6:.1f} MB, "
        f"{summary.records['total']} records, {sum(summary.labels.values())} labels "
        f"in {took:.1f} s -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
