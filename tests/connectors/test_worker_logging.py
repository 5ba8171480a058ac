"""The worker's logging: the level an operator picks is the level loggers run at."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.worker import WorkerOptions, build, runner
from engine.identity import Pseudonymiser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, put back as it was afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in list(root.handlers):  # (a copy: removing while iterating skips)
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("loglevel", ["warning", "error", "info"])
def test_the_root_logger_stays_at_the_chosen_level(
    loglevel: str, root_logger: logging.Logger, tmp_path: Path
) -> None:
    # Built, not started: neither Kafka nor Redis is reached.
    options = WorkerOptions(
        ROOT / "config", "127.0.0.1:1", "redis://127.0.0.1:1/0", data_dir=tmp_path
    )
    worker = build(options, Pseudonymiser("t", b"worker-logging-test-key-01"))
    level = logging.getLevelName(loglevel.upper())
    # As mode's Worker._setup_logging leaves it, before faust's hook: at warning
    # and above, that hook added its spinner's handler and set the root logger to DEBUG.
    root_logger.setLevel(level)
    root_logger.addHandler(logging.NullHandler())  # (the hook sets the first handler's level)
    runner(worker, loglevel).on_setup_root_logger(root_logger, level)
    assert root_logger.level == level
    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
