"""Importing the core never pulls in faust, a Kafka client or redis."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("faust", "mode", "kafka", "aiokafka", "redis", "hiredis")


def core_modules() -> list[str]:
    names = []
    for package in ("engine", "detectors"):
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            names.append(info.name)
    return names


def test_core_imports_no_transport_or_store() -> None:
    modules = core_modules()
    assert "engine.events" in modules
    script = (
        "import sys, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"the core imported: {result.stdout.strip()}"


def test_the_check_would_notice_a_forbidden_import() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, redis; print('redis' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "True"
