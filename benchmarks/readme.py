"""Assemble benchmarks/README.md from the sections the benchmarks write.

    .venv/bin/python benchmarks/readme.py

Each benchmark writes its own section (figures as measured, how to reproduce)
beside its results; this puts them under one page with the targets of issue 5
and where each stands, so the page never holds a figure no run produced.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS = ("throughput.md", "scale.md", "quality.md", "nab.md")  # throughput.md: latency too

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


def build() -> str:
    parts = [INTRO]
    for name in SECTIONS:
        path = HERE / name
        if path.exists():
            parts.append(path.read_text(encoding="utf-8").strip() + "\n")
    return "\n".join(parts)


def main() -> None:
    out = HERE / "README.md"
    out.write_text(build(), encoding="utf-8")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
