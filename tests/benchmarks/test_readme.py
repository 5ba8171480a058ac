"""benchmarks/README.md is put together from the sections and results the benchmarks write."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "benchmarks" / "readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_holds_every_section_the_targets_and_the_plots() -> None:
    readme = _readme_module()
    page = readme.build()
    for name in readme.SECTIONS:
        heading = (ROOT / "benchmarks" / name).read_text(encoding="utf-8").splitlines()[0]
        assert heading in page
    rows = [line for line in readme.targets() if line.startswith("| ") and "---" not in line]
    assert len(rows) - 1 == 8  # one row per target of issue 5, under the header row
    for plots in readme.PLOTS.values():
        for plot in plots:
            assert f"(results/{plot})" in page


def test_the_committed_page_is_the_one_the_results_give() -> None:
    readme = _readme_module()
    assert (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8") == readme.build()
