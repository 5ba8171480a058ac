"""The throughput and latency benchmarks end to end on a tiny world (about 80 s together).

Each script runs as its own command, as a reader would run it, against the
real Kafka and Redis (fixtures from tests/integration/conftest.py: a missing
service fails the test, never skips it), with every mode: the engine in
process and on Redis, the bare consumer, the worker and the faust baseline;
then the latency runs at two shares of the worker's measured backlog rate.
The checks are on the shape of the result files and that every figure is a
positive number; the figures are the benchmarks' to report, not asserted here.

40 households over 17 months, seed 13: the simulated worlds' life events start
after a year and are rare, so this small world was picked for having both kinds of alert.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import kafka_bootstrap, redis_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
WORLD = ["--households", "40", "--months", "17", "--seed", "13"]
MODES = {"engine_memory", "engine_redis", "bare_consumer", "worker", "faust_baseline"}

pytestmark = pytest.mark.integration


def run(script: str, args: list[str], out: Path, bootstrap: str, redis: str) -> dict[str, Any]:
    command = [
        sys.executable, str(ROOT / "benchmarks" / script), *WORLD, *args,
        "--bootstrap", bootstrap, "--redis", redis, "--timeout", "120",
        "--results", str(out), "--markdown", str(out / "throughput.md"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return json.loads((out / script.replace(".py", ".json")).read_text())


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def check_load(load: dict[str, Any]) -> None:
    assert {"load_1m_start", "load_1m_end", "load_1m_mean", "machine_cpu_busy_percent"} <= set(load)
    assert all(load[k] >= 0 for k in ("load_1m_start", "load_1m_end", "load_1m_mean"))


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.mark.timeout(240)
def test_throughput_reports_every_mode_side_by_side(
    out: Path,
    kafka_bootstrap: str,  # noqa: F811
    redis_url: str,  # noqa: F811
) -> None:
    report = run("throughput.py", [], out, kafka_bootstrap, redis_url)
    world = report["world"]
    assert world["households"] == 40 and world["months"] == 17 and positive(world["records"])
    assert set(report["modes"]) == MODES
    for name, mode in report["modes"].items():
        assert mode["records"] == world["records"], name
        assert positive(mode["seconds"]) and positive(mode["records_per_second"]), name
        assert mode["label"], name
        check_load(mode["load"])
    for name in ("worker", "faust_baseline", "bare_consumer"):
        assert report["modes"][name]["startup_seconds"] >= 0
    worker = report["modes"]["worker"]
    assert positive(worker["events_by_household_messages"]) and positive(worker["cpu_seconds"])
    assert set(worker["where_time_went"]["step_seconds"]) >= {"normalise", "engine", "send"}
    comparisons = report["comparisons"]
    assert positive(comparisons["worker_share_of_bare_consumer"])
    assert positive(comparisons["worker_multiple_of_faust_baseline"])
    # The worker published the revisions the in-process engine raised, one for one.
    assert positive(report["modes"]["engine_memory"]["alert_revisions"])
    assert worker["alert_revisions"] == report["modes"]["engine_memory"]["alert_revisions"]
    assert comparisons["worker_alert_revisions_as_engine"] is True
    assert positive(report["normalise_only"]["records_per_second"])
    hops = [h["hop"] for h in report["worker_hops"]]
    assert any("events.by_household" in h for h in hops) and any("alerts" in h for h in hops)
    assert (out / "throughput.png").stat().st_size > 1000
    text = (out / "throughput.md").read_text()
    assert "## Throughput" in text and "faust baseline" in text
    assert all(report["modes"][m]["label"] in text for m in MODES)


@pytest.mark.timeout(240)
def test_latency_reports_both_kinds_of_alert_at_each_rate(
    out: Path,
    kafka_bootstrap: str,  # noqa: F811
    redis_url: str,  # noqa: F811
) -> None:
    report = run("latency.py", ["--fractions", "0.5", "1.0"], out, kafka_bootstrap, redis_url)
    saturation = report["saturation"]
    assert positive(saturation["records_per_second"])
    assert positive(saturation["backlog"]["records_per_second"])
    assert [r["fraction_of_saturation"] for r in report["runs"]] == [0.5, 1.0]
    for run_ in report["runs"]:
        assert positive(run_["target_rate"]) and positive(run_["achieved_rate"])
        assert run_["records"] == report["world"]["records"]
        assert run_["alert_timestamps"] in ("LogAppendTime", "CreateTime")
        check_load(run_["load"])
        for kind in ("single_record", "month_closing"):
            figures = run_[kind]
            assert figures["count"] >= 1, (kind, figures)
            values = [figures[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
            assert all(positive(v) for v in values), (kind, figures)
            assert values == sorted(values), (kind, figures)
            # From the last line of the record's arrival time: never before it was produced.
            after = figures["from_arrival_complete"]
            assert after["count"] == figures["count"], (kind, figures)
            assert after["max_ms"] <= figures["max_ms"] and after["p50_ms"] > -1, (kind, figures)
        # Every timed single-record alert's record was found on the household topic.
        split = run_["single_record"]["split"]
        for part in ("to_household_topic", "to_alert"):
            assert split[part]["count"] == run_["single_record"]["count"], split
            assert split[part]["p50_ms"] > -1, split  # (ms clocks of one machine)
    sizes = report["world"]["arrival_times"]
    assert 1 <= sizes["lines_median"] <= sizes["lines_p99"] <= sizes["lines_max"]
    target = report["target"]
    assert target["p99_ms_at_most"] == 200 and target["at_fraction"] == 0.5
    assert isinstance(target["met"], bool)
    assert (out / "latency.png").stat().st_size > 1000
    text = (out / "throughput.md").read_text()
    assert "## Latency" in text and "p99" in text
