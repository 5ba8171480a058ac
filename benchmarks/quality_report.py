"""What benchmarks/quality.py reports: the console tables, the markdown tables, the plots.

Everything here reads the summary that ``quality.json`` holds, so the tables
and plots can be made again from a saved result
(``.venv/bin/python benchmarks/quality.py --render``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.isolation_baseline import MODEL

TARGET = 0.9  # the rule detectors' precision and recall on every world (issue 5)
BASELINES = ("isolation_forest", "random")


# --- the console -------------------------------------------------------------------------------


def print_tables(summary: dict[str, Any]) -> None:
    for r in summary["worlds"]:
        load = r["caseworker_load"]["alerts_per_1000_households_month"]
        print(
            f"\n{r['world']}: {r['households']:,} households, {r['labels']:,} labels, "
            f"{r['events']:,} events, {load} alerts per 1,000 households per month"
        )
        head = "".join(f"{h:>7}" for h in ("alerts", "P", "R", "F1", "p50 d", "p90 d"))
        print(f"  {'detector':<22}{head}{'/1k/mo':>8}")
        rows = [(n, q) for n, q in r["detectors"].items() if n != MODEL]
        for name, q in [*rows, *r["models"].items()]:
            print(
                f"  {name:<22}{q['alerts']:>7}{q['precision']:>7.3f}{q['recall']:>7.3f}"
                f"{q['f1']:>7.3f}{_num(q['days_to_alert_median']):>7}"
                f"{_num(q['days_to_alert_p90']):>7}{q['alerts_per_1000_households_month']:>8}"
            )
    if summary["rules_below_target"]:
        print(f"\nrules below {TARGET}:")
        for b in summary["rules_below_target"]:
            print(
                f"  {b['world']:<24}{b['detector']:<22}P {b['precision']:.3f}  R {b['recall']:.3f}"
            )
    else:
        print(f"\nevery rule detector at or above {TARGET} precision and recall on every world")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


# --- markdown tables ---------------------------------------------------------------------------


def _range(values: list[float | None], digits: int = 0) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    low, high = min(known), max(known)
    return f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}-{high:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _pr(q: dict[str, Any] | None) -> str:
    if q is None or (q["alerts"] == 0 and q["labels"] == 0):
        return "-"
    p, r = (f"{q[m]:.3f}" if q[m] >= TARGET else f"**{q[m]:.3f}**" for m in ("precision", "recall"))
    return f"{p} / {r} ({q['labels']})"


def markdown_tables(summary: dict[str, Any]) -> str:
    """The measured figures as markdown tables (benchmarks/results/quality-tables.md)."""
    worlds = summary["worlds"]
    rules = sorted({n for r in worlds for n in r["detectors"] if n != MODEL})
    lines = [
        f"Precision / recall per rule detector (labels to find in brackets; below {TARGET} "
        "in bold):",
        "",
    ]
    lines += _table(
        ["detector", *(r["world"] for r in worlds)],
        [[name, *(_pr(r["detectors"].get(name)) for r in worlds)] for name in rules],
    )

    def load(name: str, kind: str) -> str:
        values = [
            r["detectors"].get(name, {}).get("alerts_per_1000_households_month")
            for r in worlds
            if r["kind"] == kind
        ]
        return _range(values, 2)

    def days(name: str, key: str) -> str:
        return _range([r["detectors"].get(name, {}).get(key) for r in worlds])

    def withdrawn(name: str) -> str:
        values = [
            r["detectors"].get(name, {}).get("withdrawn_per_1000_households_month") for r in worlds
        ]
        return _range(values, 2)

    rows = [
        [
            name,
            days(name, "days_to_alert_median"),
            days(name, "days_to_alert_p90"),
            load(name, "default"),
            load(name, "mixed"),
            withdrawn(name),
        ]
        for name in [*rules, MODEL]
    ]

    def everything(kind: str | None, key: str) -> str:
        values = [r["caseworker_load"].get(key) for r in worlds if kind in (None, r["kind"])]
        return _range(values, 1)

    per_month = "alerts_per_1000_households_month"
    total = {kind: everything(kind, per_month) for kind in ("default", "mixed")}
    gone = everything(None, "withdrawn_per_1000_households_month")
    rows.append(["all detectors", "", "", total["default"], total["mixed"], gone])
    lines += [
        "",
        "Days to alert (range over the worlds), standing alerts per 1,000 households per "
        "month (live months; range over the default and over the mixed worlds), and alerts "
        "raised then withdrawn by a late record (range over all worlds):",
        "",
    ]
    header = ["detector", "median days", "p90 days", "load, default", "load, mixed"]
    lines += _table([*header, "withdrawn"], rows)

    lines += [
        "",
        "`unusual_trajectory` (River) against an IsolationForest refitted monthly and "
        "random flags, as many flags per region and month: precision / recall / F1 "
        "(recall on the income and spending life events):",
        "",
    ]
    rows = []
    for r in worlds:
        m = r["models"]
        cells = [
            f"{m[k]['precision']:.3f} / {m[k]['recall']:.3f} / {m[k]['f1']:.3f}" if k in m else "-"
            for k in (MODEL, *BASELINES)
        ]
        rows.append([r["world"], str(m[MODEL]["alerts_per_1000_households_month"]), *cells])
    lines += _table(["world", "flags /1k/month", "River HST", "IsolationForest", "random"], rows)

    lines += ["", "The worlds and their cost (seconds, two worlds at a time on 2 cores):", ""]
    rows = []
    for r in worlds:
        t = r["seconds"]
        rows.append(
            [
                r["world"],
                f"{r['households']:,}",
                str(r["months"]),
                f"{r['labels']:,}",
                f"{r['events']:,}",
                f"{t['simulate']:.0f}",
                f"{t['replay']:.0f}",
                f"{t['score_and_baselines']:.0f}",
                f"{t.get('total', 0):.0f}",
            ]
        )
    header = ["world", "households", "months", "life events", "events", "simulate", "replay"]
    lines += _table([*header, "baselines", "total"], rows)
    code = f", code {summary['code_version']}" if summary.get("code_version") else ""
    lines += [
        "",
        f"Wall time {summary['wall_seconds'] / 60:.1f} minutes; engine config "
        f"{', '.join(summary['config_versions'])}{code}.",
        "",
    ]
    return "\n".join(lines)


# --- plots ---------------------------------------------------------------------------------------


def _marker(kind: str) -> str:
    return "^" if kind == "mixed" else "o"


def plot_all(summary: dict[str, Any], folder: Path) -> list[Path]:
    """quality-precision-recall.png, quality-alert-volume.png, quality-models.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds = summary["worlds"]
    rules = sorted({n for r in worlds for n in r["detectors"] if n != MODEL})
    colours = plt.get_cmap("tab10")
    paths = []

    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    lowest = min(
        [
            q[m]
            for r in worlds
            for n, q in r["detectors"].items()
            if n != MODEL
            for m in ("precision", "recall")
        ]
        + [0.8]
    )
    for ax, metric in zip(axes, ("precision", "recall"), strict=True):
        for w, r in enumerate(worlds):
            xs = [
                i + (w - (len(worlds) - 1) / 2) * 0.09
                for i, n in enumerate(rules)
                if n in r["detectors"]
            ]
            ys = [r["detectors"][n][metric] for n in rules if n in r["detectors"]]
            ax.scatter(
                xs, ys, marker=_marker(r["kind"]), color=colours(w % 10), s=28, label=r["world"]
            )
        ax.axhline(TARGET, color="crimson", linestyle="--", linewidth=1, label=f"target {TARGET}")
        ax.set_ylabel(metric)
        ax.set_ylim(max(lowest - 0.05, 0), 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(
        "Rule detectors per simulated world (triangles: the differently mixed worlds)"
    )
    axes[0].legend(fontsize=7, ncol=4, loc="lower left")
    axes[1].set_xticks(range(len(rules)), rules, rotation=30, ha="right")
    fig.tight_layout()
    paths.append(folder / "quality-precision-recall.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    names = [*rules, MODEL]
    fig, ax = plt.subplots(figsize=(10, 6))
    for w, r in enumerate(worlds):
        values = [r["detectors"].get(n, {}).get("alerts_per_1000_households_month") for n in names]
        ys = [i + (w - (len(worlds) - 1) / 2) * 0.09 for i, v in enumerate(values) if v]
        total = r["caseworker_load"]["alerts_per_1000_households_month"]
        ax.scatter(
            [v for v in values if v],
            ys,
            marker=_marker(r["kind"]),
            color=colours(w % 10),
            s=28,
            label=f"{r['world']} (all: {total})",
        )
    ax.set_yticks(range(len(names)), names)
    ax.set_xscale("log")
    ax.set_xlabel("alerts per 1,000 households per month (live months, log scale)")
    ax.set_title("Caseworker load per detector")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    paths.append(folder / "quality-alert-volume.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    models = [MODEL, *BASELINES]
    labels = {
        MODEL: "River Half-Space Trees",
        "isolation_forest": "IsolationForest (monthly refit)",
        "random": "random, same number",
    }
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, metric in zip(axes, ("precision", "recall"), strict=True):
        for m, model in enumerate(models):
            xs = [i + (m - 1) * 0.27 for i in range(len(worlds))]
            ys = [r["models"].get(model, {}).get(metric, 0) for r in worlds]
            ax.bar(xs, ys, width=0.27, color=colours(m), label=labels[model])
        ax.set_xticks(
            range(len(worlds)), [r["world"] for r in worlds], rotation=30, ha="right", fontsize=8
        )
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("unusual_trajectory: alerts near a life event")
    axes[1].set_title("income and spending life events found")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "quality-models.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
