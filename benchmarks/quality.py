"""Detection quality on simulated worlds: precision, recall, F1, time to alert, alert volume.

    .venv/bin/python benchmarks/quality.py --quick   # 2 worlds of 1,000 households, a few minutes
    .venv/bin/python benchmarks/quality.py --full    # 7 worlds up to 5,000 x 36, ~20 minutes
    .venv/bin/python benchmarks/quality.py --households 5000 --months 36 --seeds 1 2 3

Each world is simulated (``config/simulator.toml``, or a variant in
``benchmarks/worlds/`` laid over it), replayed through the engine with the
shipped config (warm-up backfilled) and scored against its labels
(``connectors/evaluate.py``): per detector precision, recall, F1, time to alert
(median and p90 days) and alerts per 1,000 households per month of the live
months (the caseworker load). ``unusual_trajectory`` is compared with a
scikit-learn IsolationForest refitted monthly on the same feature vectors, and
with random flags, at the same number of flags (``benchmarks/isolation_baseline.py``).
Results: ``benchmarks/results/quality.json`` and ``quality-*.png`` beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.isolation_baseline import (  # noqa: E402
    MODEL,
    Budget,
    RecordingTrajectory,
    isolation_flags,
    random_flags,
    recording,
)
from benchmarks.quality_report import (  # noqa: E402
    TARGET,
    markdown_tables,
    plot_all,
    print_tables,
)
from connectors.cli_engine import SIMULATION_START, world_warmup_end  # noqa: E402
from connectors.evaluate import (  # noqa: E402
    Label,
    acceptable,
    expected,
    latest_alerts,
    load_world_labels,
    score,
    score_model,
)
from connectors.mapping import Catalog  # noqa: E402
from connectors.replay import plan_deliveries, replay  # noqa: E402
from connectors.simulate import load_simulator_settings, simulate  # noqa: E402
from detectors.catalog import EngineConfig, load_engine_config  # noqa: E402
from detectors.models import UnusualTrajectory  # noqa: E402
from engine.alert import Alert  # noqa: E402
from engine.identity import Pseudonymiser  # noqa: E402
from engine.store import MemoryStore  # noqa: E402
from engine.timeline import month_index  # noqa: E402

DEFAULT_WORLD = ROOT / "config" / "simulator.toml"
MIXED_WORLD = ROOT / "benchmarks" / "worlds" / "mixed.toml"
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class World:
    kind: str  # "default", "mixed": which simulator config
    config: Path
    households: int
    months: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.households}x{self.months}-s{self.seed}"


def _default(households: int, months: int, seed: int) -> World:
    return World("default", DEFAULT_WORLD, households, months, seed)


def _mixed(households: int, months: int, seed: int) -> World:
    return World("mixed", MIXED_WORLD, households, months, seed)


PRESETS: dict[str, list[World]] = {
    "smoke": [_default(400, 20, 1), _mixed(400, 20, 1)],
    "quick": [_default(1000, 36, 1), _mixed(1000, 36, 1)],
    "full": [
        _default(5000, 36, 1),
        _default(5000, 36, 2),
        _mixed(5000, 36, 1),
        _default(2000, 36, 3),
        _mixed(2000, 36, 2),
        _default(1000, 24, 4),
        _mixed(1000, 24, 3),
    ],
}


# --- simulator configs: a variant is the keys it changes, laid over another file ------


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def simulator_params(path: Path) -> dict[str, Any]:
    """The simulator config a file describes: itself, or (with ``extends``) laid over
    the file it extends; relative paths in it made absolute."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    base = raw.pop("extends", None)
    if base is not None:
        raw = _merge(simulator_params((path.parent / base).resolve()), raw)
    for key, default in (("lifeline", "lifeline.toml"), ("connectors", "connectors")):
        if not Path(raw.get(key, default)).is_absolute():
            raw[key] = str((path.parent / raw.get(key, default)).resolve())
    return raw


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else orjson.dumps(key).decode()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict) and all(not isinstance(v, dict) for v in value.values()):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"cannot write {value!r} as a TOML value")


def to_toml(table: dict[str, Any], prefix: str = "") -> str:
    """A TOML document of plain data (tables of scalars, lists and tables)."""
    nested = {
        k: v
        for k, v in table.items()
        if isinstance(v, dict) and any(isinstance(x, dict) for x in v.values())
    }
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if k not in nested]
    text = ""
    if lines:
        text = (f"[{prefix}]\n" if prefix else "") + "\n".join(lines) + "\n\n"
    for key, value in nested.items():
        text += to_toml(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key))
    return text


def write_simulator_config(world: World, folder: Path) -> tuple[Path, str]:
    """The world's simulator config as one validated file, and its content hash."""
    params = simulator_params(world.config)
    path = folder / "simulator.toml"
    path.write_text(to_toml(params), encoding="utf-8")
    load_simulator_settings(path)  # validates (errors name the merged file and the field)
    digest = hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return path, digest[:12]


# --- one world ------------------------------------------------------------------------------


def _say(world: World, message: str) -> None:
    print(f"[{world.name}] {message}", flush=True)


def engine_config(config: EngineConfig) -> tuple[EngineConfig, RecordingTrajectory | None]:
    """The shipped config with ``unusual_trajectory`` recording what it scores."""
    swapped = [recording(d) if isinstance(d, UnusualTrajectory) else d for d in config.detectors]
    recorder = next((d for d in swapped if isinstance(d, RecordingTrajectory)), None)
    return dataclasses.replace(config, detectors=tuple(swapped)), recorder


def run_world(world: World, work: Path, keep: Path | None = None) -> dict[str, Any]:
    folder = (keep or work) / world.name
    folder.mkdir(parents=True, exist_ok=True)
    sim_config, sim_hash = write_simulator_config(world, folder)
    started = time.perf_counter()
    facts = simulate(
        load_simulator_settings(sim_config),
        world.households,
        world.months,
        world.seed,
        folder / "world",
        SIMULATION_START,
    )
    simulated = time.perf_counter() - started
    _say(
        world,
        f"simulated in {simulated:.0f} s: {facts.records['total']:,} records, "
        f"{sum(facts.labels.values()):,} life events",
    )

    config, recorder = engine_config(load_engine_config(ROOT / "config"))
    catalog = Catalog.load(ROOT / "config" / "connectors")
    departments = folder / "world" / "departments"
    engine = config.engine(MemoryStore(), world_warmup_end((departments,)))
    if recorder is not None:
        recorder.start_recording(lambda: engine.watermark)
    deliveries = plan_deliveries(departments)
    step = max(len(deliveries) // 5, 1)
    started = time.perf_counter()
    done = 0

    def progress(_: object) -> None:
        nonlocal done
        done += 1
        if done % step == 0 and done < len(deliveries):
            elapsed = time.perf_counter() - started
            share = done / len(deliveries)
            _say(world, f"replay {share:.0%} ({done}/{len(deliveries)} files, {elapsed:.0f} s)")

    key = Pseudonymiser("bench", os.urandom(32))
    summary = replay(deliveries, catalog, key, engine, on_file=progress)
    replayed = time.perf_counter() - started
    _say(world, f"replayed {summary.events:,} events in {replayed:.0f} s")

    labels, derived = load_world_labels(folder / "world" / "labels.jsonl")
    standing = latest_alerts(summary.alerts)
    started = time.perf_counter()
    scores = {name: dataclasses.asdict(s) for name, s in score(standing, labels, derived).items()}
    models = {MODEL: dataclasses.asdict(score_model(standing, labels, derived))}
    if recorder is not None:
        budget = Budget.of(standing)
        cooldown = config.policies[MODEL].cooldown_days
        for name, flags in (
            ("isolation_forest", isolation_flags(recorder.rows, budget, cooldown)),
            ("random", random_flags(recorder.rows, budget, cooldown)),
        ):
            found = score_model(flags, labels, derived)  # type: ignore[arg-type]
            models[name] = dataclasses.asdict(dataclasses.replace(found, detector=name))
    baseline = time.perf_counter() - started
    _say(world, f"scored, baselines in {baseline:.0f} s")

    population = int(facts.population.get("households", world.households))
    warmup = int(facts.parameters["events"]["warmup_months"])
    live_months = world.months - warmup
    per = 1000 / population / live_months
    scores[MODEL] = models[MODEL]  # with its recall on income and spending events
    for entry in [*scores.values(), *models.values()]:
        entry["alerts_per_1000_households_month"] = round(entry["alerts"] * per, 2)
    # Alerts a late record withdrew: not scored, but a caseworker saw them come and go.
    final = {a.alert_id: a for a in summary.alerts}
    withdrawn = Counter(a.detector for a in final.values() if a.status == "withdrawn")
    for name, entry in scores.items():
        entry["withdrawn"] = withdrawn.get(name, 0)
        entry["withdrawn_per_1000_households_month"] = round(withdrawn.get(name, 0) * per, 2)
    stories = {a.story.id for a in standing}
    load = Counter(a.direction for a in standing)
    if keep is not None:  # every revision, in the order the engine raised them
        with (folder / "alerts.jsonl").open("wb") as out:
            for alert in summary.alerts:
                out.write(msgspec.json.encode(alert) + b"\n")
    rules = [n for n in scores if n != MODEL]
    return {
        "world": world.name,
        "kind": world.kind,
        "simulator_config": str(world.config.relative_to(ROOT)),
        "simulator_config_sha256": sim_hash,
        "seed": world.seed,
        "households": population,
        "months": world.months,
        "live_months": live_months,
        "labels": len(labels),
        "labels_by_event": dict(sorted(Counter(lb.event for lb in labels).items())),
        "benefit_endings": len(derived),
        "noise": facts.noise,
        "events": summary.events,
        "rejects": sum(summary.rejects.values()),
        "config_version": config.version,
        "seconds": {
            "simulate": round(simulated, 1),
            "replay": round(replayed, 1),
            "score_and_baselines": round(baseline, 1),
        },
        "events_per_second": round(summary.events / replayed),
        "caseworker_load": {
            "alerts_per_1000_households_month": round(len(standing) * per, 2),
            "stories_per_1000_households_month": round(len(stories) * per, 2),
            "withdrawn_per_1000_households_month": round(sum(withdrawn.values()) * per, 2),
            "by_direction": {k: round(v * per, 2) for k, v in sorted(load.items())},
        },
        "detectors": scores,
        "models": models,
        "below_target": diagnose(
            [n for n in rules if min(scores[n]["precision"], scores[n]["recall"]) < TARGET],
            standing,
            labels,
            derived,
        ),
    }


# --- why a rule is below the target ------------------------------------------------------------


def _label_brief(label: Label) -> dict[str, Any]:
    d = label.details
    keep = (
        "scheme",
        "members",
        "member_share",
        "household_income_before",
        "household_income_after",
    )
    return {
        "label": label.label_id,
        "event": label.event,
        "month": label.month,
        **{k: d[k] for k in keep if k in d},
    }


def diagnose(
    detectors: list[str], standing: list[Alert], labels: list[Label], derived: list[Label]
) -> dict[str, Any]:
    """For each detector: its wrong alerts by the nearest life event of the household
    (or none), its missed labels by event and whether the household had an alert of that
    detector in another month (the matching window) or none (the detector did not fire)."""
    by_household: dict[str, list[Label]] = defaultdict(list)
    for label in [*labels, *derived]:
        by_household[label.household].append(label)
    out: dict[str, Any] = {}
    for detector in detectors:
        mine = [a for a in standing if a.detector == detector]
        alerted: dict[str, list[str]] = defaultdict(list)
        for alert in mine:
            alerted[alert.household].append(alert.story.month)
        wrong, wrong_examples = Counter[str](), []
        for alert in mine:
            month = month_index(alert.story.month)
            near = [
                lb
                for lb in by_household[alert.household]
                if abs(month_index(lb.month) - month) <= 6
            ]
            window = [lb for lb in near if 0 <= month - month_index(lb.month) <= 3]
            if any(detector in acceptable(lb) for lb in window):
                continue
            reason = ",".join(sorted({lb.event for lb in near})) or "no life event within 6 months"
            wrong[reason] += 1
            if len(wrong_examples) < 5:
                wrong_examples.append(
                    {
                        "household": alert.household,
                        "month": alert.story.month,
                        "values": dict(alert.evidence.values),
                        "labels_nearby": [_label_brief(lb) for lb in near],
                    }
                )
        missed, missed_examples = Counter[str](), []
        for label in labels:
            if detector not in expected(label):
                continue
            months = alerted.get(label.household, [])
            lag = [month_index(m) - month_index(label.month) for m in months]
            if any(0 <= g <= 3 for g in lag):
                continue
            where = "alert in another month" if months else "no alert"
            missed[f"{label.event}: {where}"] += 1
            if len(missed_examples) < 5:
                example = _label_brief(label)
                example["household"] = label.household
                example["alert_months"] = sorted(months)
                missed_examples.append(example)
        out[detector] = {
            "wrong_by_nearby_events": dict(wrong.most_common()),
            "wrong_examples": wrong_examples,
            "missed_by_event": dict(missed.most_common()),
            "missed_examples": missed_examples,
        }
    return out


# --- the whole run -------------------------------------------------------------------------------


def _job(world: World, work: str, keep: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_world(world, Path(work), Path(keep) if keep else None)
    result["seconds"]["total"] = round(time.perf_counter() - started, 1)
    _say(world, f"done in {result['seconds']['total']:.0f} s")
    return result


def run(worlds: list[World], jobs: int, keep: Path | None) -> list[dict[str, Any]]:
    """Every world, ``jobs`` at a time (largest first), results in the list's order."""
    order = sorted(range(len(worlds)), key=lambda i: -worlds[i].households * worlds[i].months)
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="lifeline-quality-") as work:
        if jobs <= 1:
            for i in order:
                results[i] = _job(worlds[i], work, str(keep) if keep else None)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {
                    i: pool.submit(_job, worlds[i], work, str(keep) if keep else None)
                    for i in order
                }
                results = {i: f.result() for i, f in futures.items()}
    return [results[i] for i in range(len(worlds))]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def code_version() -> str | None:
    """The commit the engine and detectors came from (config_version hashes only config files);
    ``+dirty`` when engine/, detectors/ or connectors/ had uncommitted changes."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "engine", "detectors", "connectors")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def report(results: list[dict[str, Any]], preset: str, seconds: float, jobs: int) -> dict[str, Any]:
    below = [
        {"world": r["world"], "detector": name, "precision": q["precision"], "recall": q["recall"]}
        for r in results
        for name, q in r["detectors"].items()
        if name != MODEL and min(q["precision"], q["recall"]) < TARGET
    ]
    return {
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "preset": preset,
        "target": TARGET,
        "config_versions": sorted({r["config_version"] for r in results}),
        "code_version": code_version(),
        "simulator_configs": {
            r["kind"]: {"path": r["simulator_config"], "sha256": r["simulator_config_sha256"]}
            for r in results
        },
        "worlds": results,
        "rules_below_target": below,
        "wall_seconds": round(seconds, 1),
        "jobs": jobs,
        "cpus": os.cpu_count(),
    }


def write_reports(summary: dict[str, Any], folder: Path, plots: bool = True) -> None:
    tables = folder / "quality-tables.md"
    tables.write_text(markdown_tables(summary), encoding="utf-8")
    print(f"-> {tables}")
    for path in plot_all(summary, folder) if plots else []:
        print(f"-> {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_const", const="quick", dest="preset")
    preset.add_argument("--full", action="store_const", const="full", dest="preset")
    preset.add_argument("--smoke", action="store_const", const="smoke", dest="preset")
    parser.add_argument(
        "--households", type=int, help="default worlds of this size instead of a preset"
    )
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--mixed", action="store_true", help="with --households: mixed worlds too")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worlds at a time"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="folder for quality.json and the plots"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep each world, its merged config and alerts here"
    )
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--render", action="store_true", help="only redo the tables and plots of OUT/quality.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        summary = orjson.loads((args.out / "quality.json").read_bytes())
        print_tables(summary)
        write_reports(summary, args.out, plots=not args.no_plots)
        return
    if args.households:
        name = f"custom-{args.households}x{args.months}"
        worlds = [_default(args.households, args.months, s) for s in args.seeds]
        worlds += (
            [_mixed(args.households, args.months, s) for s in args.seeds] if args.mixed else []
        )
    else:
        name = args.preset or "quick"
        worlds = PRESETS[name]
    print(
        f"{name}: {len(worlds)} worlds, {args.jobs} at a time: "
        + ", ".join(w.name for w in worlds),
        flush=True,
    )
    started = time.perf_counter()
    results = run(worlds, args.jobs, args.keep)
    summary = report(results, name, time.perf_counter() - started, args.jobs)
    print_tables(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "quality.json"
    out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(f"-> {out}")
    write_reports(summary, args.out, plots=not args.no_plots)
    print(f"{len(worlds)} worlds in {summary['wall_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
