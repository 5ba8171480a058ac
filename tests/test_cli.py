"""The lifeline command as a user runs it: no server, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from engine.events import decode_event

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "departments"
LIFELINE = [sys.executable, "-m", "connectors.cli"]


def run(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_PSEUDONYM")}
    # Point every server address at a closed port: the embedded run must not need one.
    base.update(
        {"LIFELINE_KAFKA_BOOTSTRAP": "127.0.0.1:9", "LIFELINE_REDIS_URL": "redis://127.0.0.1:9/0"}
    )
    return subprocess.run(
        LIFELINE + args,
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


KEY = {"LIFELINE_PSEUDONYM_KEY": "cli-test-key-0123456789", "LIFELINE_PSEUDONYM_KEY_ID": "cli"}


def raw_ids_in_samples() -> set[str]:
    import re

    found: set[str] = set()
    for path in SAMPLES.iterdir():
        found.update(re.findall(rb"(?<![0-9])[0-9]{17}[0-9X](?![0-9])", path.read_bytes()))
    return {token.decode() for token in found}


def test_run_over_the_samples_needs_no_server(tmp_path: Path) -> None:
    result = run(["run", "--samples", str(SAMPLES), "--out", str(tmp_path)], KEY)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "summary" in out and "rejected records:" in out
    events = [decode_event(line) for line in (tmp_path / "events.jsonl").read_bytes().splitlines()]
    rejects = [
        orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert len(events) > 200 and rejects
    # Every line of every sample file is accounted for: an event or a reject.
    data_lines = 0
    for path in SAMPLES.iterdir():
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        data_lines += len(lines) - (1 if path.suffix == ".csv" and lines else 0)
    empty_files = sum(1 for p in SAMPLES.iterdir() if not p.read_bytes().strip())
    assert len(events) + len(rejects) == data_lines + empty_files
    assert f"events: {len(events)} " in out
    assert f"rejected records: {len(rejects)}" in out
    # No raw ID number reaches the console or the output files.
    written = (
        out
        + result.stderr
        + (tmp_path / "events.jsonl").read_text()
        + (tmp_path / "rejects.jsonl").read_text()
    )
    leaked = [number for number in raw_ids_in_samples() if number in written]
    assert leaked == []
    assert all(
        e.__struct_config__.tag != "roster.enrolled" or e.members[0].person.startswith("psn:cli:")
        for e in events
    )  # type: ignore[attr-defined]


def test_run_is_deterministic_apart_from_arrival_time(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert (
        run(["run", "--samples", str(SAMPLES), "--quiet", "--out", str(first)], KEY).returncode == 0
    )
    assert (
        run(["run", "--samples", str(SAMPLES), "--quiet", "--out", str(second)], KEY).returncode
        == 0
    )

    def ids(folder: Path) -> list[tuple[str, str]]:
        return [
            (e.event_id, e.fingerprint)
            for e in map(decode_event, (folder / "events.jsonl").read_bytes().splitlines())
        ]

    assert ids(first) == ids(second)


def test_the_key_is_required() -> None:
    result = run(["run", "--quiet", "--out", "/tmp/lifeline-no-key"])
    assert result.returncode == 2
    assert "pseudonymisation key is required" in result.stderr
    assert "LIFELINE_PSEUDONYM_KEY" in result.stderr


def test_connect_writes_events_and_rejects(tmp_path: Path) -> None:
    sample = SAMPLES / "setl_202603.csv"
    out, rejects = tmp_path / "events.jsonl", tmp_path / "rejects.jsonl"
    result = run(
        ["connect", str(sample), "--out", str(out), "--rejects", str(rejects),
         "--received-at", "2026-04-02T08:00:00+08:00"],
        KEY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [decode_event(line) for line in out.read_bytes().splitlines()]
    assert events and all(e.department == "medical_insurance" for e in events)
    assert all(e.received_at == "2026-04-02T08:00:00+08:00" for e in events)
    assert sorted(orjson.loads(r)["reason_code"] for r in rejects.read_bytes().splitlines()) == [
        "out_of_range",
        "unknown_code",
    ]
    assert "rejected records: 2" in result.stderr


def test_connect_names_an_unknown_department(tmp_path: Path) -> None:
    result = run(["connect", str(SAMPLES / "setl_202603.csv"), "--department", "tax"], KEY)
    assert result.returncode == 2
    assert "unknown department 'tax'" in result.stderr and "medical_insurance" in result.stderr


def test_check_config_reports_a_broken_file(tmp_path: Path) -> None:
    good = run(["config", "check"])
    assert (
        good.returncode == 0 and good.stdout.startswith("ok:") and "10 departments" in good.stdout
    )
    config = tmp_path / "config"
    (config / "connectors").mkdir(parents=True)
    (config / "lifeline.toml").write_text((ROOT / "config" / "lifeline.toml").read_text().replace(
        "urban_line = 760", 'urban_line = "760"', 1))  # fmt: skip
    for mapping in (ROOT / "config" / "connectors").glob("*.toml"):
        (config / "connectors" / mapping.name).write_bytes(mapping.read_bytes())
    for name in ("detectors.toml", "templates.toml"):
        (config / name).write_bytes((ROOT / "config" / name).read_bytes())
    (config / "detectors.toml").write_text(
        (config / "detectors.toml").read_text().replace("drop = 0.3", "drop = 1.5", 1)
    )
    bad = run(["config", "check", str(config)])
    assert bad.returncode == 1
    problems = [line for line in bad.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2  # both broken files are reported, not only the first
    assert "lifeline.toml" in problems[0] and "urban_line" in problems[0]
    assert (
        "detectors.toml" in problems[1] and "income_drop" in problems[1] and "drop" in problems[1]
    )


def test_the_default_run_simulates_a_world_and_scores_its_alerts(tmp_path: Path) -> None:
    result = run(["run", "--households", "80", "--months", "24", "--out", str(tmp_path)], KEY)
    assert result.returncode == 0, result.stderr
    assert "simulated 80 households over 24 months" in result.stdout
    assert "precision" in result.stdout and "recall" in result.stdout
    alerts = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    assert alerts and result.stdout.count("⚑") == len(alerts)
    assert (tmp_path / "world" / "labels.jsonl").exists()
