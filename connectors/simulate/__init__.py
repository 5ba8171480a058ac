"""Simulated worlds with ground truth: raw department files plus the life events behind them.

``simulate(settings, households, months, seed, out_dir)`` writes the files a
county's departments would deliver (in the layouts of ``config/connectors``),
the order and times they arrive, and labels of the life events injected, so
that detectors can be scored by replaying the files. See docs/simulation.md.
"""

from __future__ import annotations

from connectors.simulate.generate import WorldSummary, simulate
from connectors.simulate.settings import (
    DEFAULT_CONFIG,
    SimulatorError,
    SimulatorSettings,
    load_simulator_settings,
)

__all__ = [
    "DEFAULT_CONFIG",
    "SimulatorError",
    "SimulatorSettings",
    "WorldSummary",
    "load_simulator_settings",
    "simulate",
]
