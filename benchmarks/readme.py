"""Assemble benchmarks/README.md from the sections the benchmarks write.

    .venv/bin/python benchmarks/readme.py

Each benchmark writes its own section (figures as measured, how to reproduce)
beside its results; this puts them under one page with the targets of issue 5
and where each stands, so the page never holds a figure no run produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
SECTIONS = ("throughput.md", "profile.md", "scale.md", "quality.md", "nab.md")  # + latency

INTRO = """# Benchmarks

Speed, scale and detection quality, measured the same way every time. These
machines are shared and noisy: compare the figures of one run with each other
(ratios), not absolute times from different runs.

- `make bench`: a quick run of every benchmark (small worlds, a part of NAB),
  results in `benchmarks/results/quick/` (not in git); a few minutes.
- `make bench-full`: the whole set, results in `benchmarks/results/` and this
  page rebuilt; about an hour.
- `make test` runs a tiny smoke version of each (`tests/benchmarks/`), so
  none rots.

Every benchmark writes JSON and PNG plots to `benchmarks/results/`, and the
section of this page that follows from them (`benchmarks/*.md`;
`benchmarks/readme.py` puts the page together). The per-row NAB results stay
out of git (`benchmarks/results/raw/`).
"""


# The plots each section's results draw (quality.md shows its own).
PLOTS = {
    "throughput.md": ("throughput.png", "latency.png"),
    "scale.md": ("scale-cost.png", "scale-memory.png"),
    "nab.md": ("nab.png",),
}


def _load(name: str) -> dict[str, Any] | None:
    path = HERE / "results" / name
    return orjson.loads(path.read_bytes()) if path.exists() else None  # type: ignore[no-any-return]


def targets() -> list[str]:
    """Where each target of issue 5 stands, read from the latest results."""
    rows: list[tuple[str, str, str]] = []
    if (t := _load("throughput.json")) is not None:
        modes, ratio = t["modes"], t["comparisons"]
        core = modes["engine_memory"]["records_per_second"]
        rows.append(("engine core, in-process store", ">= 50,000 records/s", f"{core:,.0f}"))
        share = ratio["worker_share_of_bare_consumer"]
        rows.append(("worker / bare consumer", ">= 50%", f"{100 * share:.1f}%"))
        multiple = ratio["worker_multiple_of_faust_baseline"]
        rows.append(("worker / faust baseline", ">= 5x", f"{multiple:.2f}x"))
    if (lat := _load("latency.json")) is not None:
        target = lat["target"]
        measured = (
            f"{target['single_record_p99_ms'] / 1000:.2f} s single-record, "
            f"{target['month_closing_p99_ms'] / 1000:.2f} s month-closing"
        )
        single = target.get("single_record_p99_ms_from_arrival_complete")
        closing = target.get("month_closing_p99_ms_from_arrival_complete")
        if single is not None and closing is not None:
            measured += (
                f" (from the last line of the record's arrival time: {single / 1000:.2f} s "
                f"and {closing / 1000:.2f} s)"
            )
        rows.append((
            "p99 record-to-alert at half saturation",
            f"<= {target['p99_ms_at_most']:.0f} ms",
            measured,
        ))  # fmt: skip
    if (sc := _load("scale.json")) is not None:
        v = sc["verdicts"]
        rows.append((
            "Redis state per household",
            "<= 2 KiB (goal 512 B)",
            f"{v['bytes_per_household']:,} B at {v['bytes_at_households']:,} households",
        ))  # fmt: skip
        rows.append((
            "per-record cost as households grow",
            "within 20%",
            f"{100 * v['per_record_change_wall']:+.1f}% from {v['from_households']:,} "
            f"to {v['to_households']:,}",
        ))  # fmt: skip
    if (nab := _load("nab.json")) is not None:
        best = max(nab["detectors"].items(), key=lambda kv: kv[1]["profiles"]["standard"]["score"])
        score = best[1]["profiles"]["standard"]["score"]
        rows.append(("NAB standard profile, best model", ">= 60", f"{score:.1f} ({best[0]})"))
    if (q := _load("quality.json")) is not None:
        below = q["rules_below_target"]
        worlds, total = {b["world"] for b in below}, len(q["worlds"])
        verdict = (
            f"{len(below)} detector-world pairs below, on {len(worlds)} of {total} worlds"
            if below
            else f"all, on {total} worlds"
        )
        rows.append(("rule detectors' precision and recall", ">= 0.9 on every world", verdict))
    lines = ["## Where the targets stand", "", "| target | wanted | measured |"]
    lines.append("| --- | --- | --- |")
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return [*lines, ""]


def build() -> str:
    parts = [INTRO, "\n".join(targets())]
    for name in SECTIONS:
        path = HERE / name
        if path.exists():
            section = path.read_text(encoding="utf-8").strip() + "\n"
            for plot in PLOTS.get(name, ()):
                if (HERE / "results" / plot).exists():
                    section += f"\n![{plot.removesuffix('.png')}](results/{plot})\n"
            parts.append(section)
    return "\n".join(parts)


def main() -> None:
    out = HERE / "README.md"
    out.write_text(build(), encoding="utf-8")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
