"""The scale benchmark end to end at toy sizes (about 20 s; needs Redis).

benchmarks/scale.py with a 200-household base cloned to about 200 and 1,000
households in Redis: checks the result file's shape, that every figure is
positive, that memory per household is plausible and that no key is left
behind. The figures themselves are the benchmark's to report, not asserted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from benchmarks import scale

pytestmark = pytest.mark.integration

DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"


@pytest.fixture(scope="module")
def redis_url() -> str:
    # Fail, never skip: a skipped benchmark smoke test looks green and proves nothing.
    url = os.environ.get("LIFELINE_REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis does not answer at {url} ({type(exc).__name__}: {exc}); start it with "
            "`make services` (scripts/services.sh up)",
            pytrace=False,
        )
    finally:
        client.close()
    return url


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("scale")
    scale.main(
        [
            "--sizes", "200", "1000",
            "--base-households", "200",
            "--months", "15",
            "--worker-sizes",
            "--redis", redis_url,
            "--out", str(out),
            "--markdown", str(out / "scale.md"),
        ]
    )  # fmt: skip
    return orjson.loads((out / "scale.json").read_bytes()), out


def test_each_size_clones_the_base_and_measures_memory(run: tuple[dict[str, Any], Path]) -> None:
    report, _ = run
    base = report["base"]
    assert base["households"] >= 200 and base["window_records"] > 0
    assert base["keys_per_clone"]["hh"] == base["households"]
    sizes = report["sizes"]
    assert [r["clones"] for r in sizes] == [1, round(1000 / base["households"])]
    for row in sizes:
        assert row["households"] == row["clones"] * base["households"]
        assert row["clone"]["keys"] >= row["households"] and row["clone"]["seconds"] >= 0
        usage = row["memory_usage"]
        # A household blob and its members' person indexes: hundreds of bytes to a few KiB
        # (the smallest size also carries its share of the regions' models).
        assert 300 < usage["mean_key_bytes"]["hh"] < 8192
        assert 300 < usage["per_household"] < 64 * 1024
        assert usage["keys_per_household"]["ps"] >= 1
        assert row["used_memory_per_household"] > 0


def test_each_size_decides_a_month_and_applies_the_window(
    run: tuple[dict[str, Any], Path],
) -> None:
    report, _ = run
    for row in report["sizes"]:
        decision, records = row["decision"], row["records"]
        assert decision["months_decided"] >= 1
        assert decision["seconds"] > 0 and decision["us_per_household"] > 0
        assert decision["cpu_us_per_household"] > 0 and decision["peak_rss_mib"] > 0
        assert records["records"] == report["base"]["window_records"]
        assert records["us_per_record"] > 0 and records["cpu_us_per_record"] > 0
        assert sum(records["outcomes"].values()) > 0
        assert row["ticks"]["ticks"] == report["base"]["window_arrival_times"] - 1


def test_projection_and_verdicts_follow_from_the_figures(
    run: tuple[dict[str, Any], Path],
) -> None:
    report, _ = run
    projection, verdicts = report["projection"], report["verdicts"]
    assert projection["bytes_per_household"] == verdicts["bytes_per_household"] > 0
    assert projection["country_gib"] > projection["province_gib"] > 0
    assert all(v > 0 for k, v in projection["rates"].items() if not k.startswith("redis"))
    months = projection["province_month"]
    assert {c["workers"] for c in months} >= {1, 4}
    one = next(c for c in months if c["workers"] == 1)
    four = next(c for c in months if c["workers"] == 4 and c["records"] == one["records"])
    assert one["cpu_minutes"] > 0 and four["wall_minutes"] < one["wall_minutes"]
    assert isinstance(verdicts["per_record_within_20_percent"], bool)


def test_plots_and_markdown_are_written(run: tuple[dict[str, Any], Path]) -> None:
    _, out = run
    for name in ("scale-cost.png", "scale-memory.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "scale.md").read_text()
    assert text.startswith("## Scale") and scale.BEGIN in text and scale.END in text
    assert "| households |" in text


def test_no_key_is_left_behind(run: tuple[dict[str, Any], Path], redis_url: str) -> None:
    report, _ = run
    client = redis.Redis.from_url(redis_url)
    try:
        for row in report["sizes"]:
            assert row["prefix"].startswith("scale:")
            assert not list(client.scan_iter(match=row["prefix"] + "*", count=10_000))
    finally:
        client.close()
