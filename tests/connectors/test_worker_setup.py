"""The worker as `lifeline worker` sets it up, built but not started (no Kafka, no Redis):
the level an operator picks is the level loggers run at; the broker may hold
fetches for more records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.fetch_wait import MIN_BYTES, fetch_every
from connectors.worker import Worker, WorkerOptions, build, runner
from engine.identity import Pseudonymiser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, put back as it was afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def built(tmp_path: Path, **options: object) -> Worker:
    return build(
        WorkerOptions(
            ROOT / "config",
            "127.0.0.1:1",
            "redis://127.0.0.1:1/0",
            data_dir=tmp_path,
            **options,  # type: ignore[arg-type]
        ),
        Pseudonymiser("t", b"worker-setup-test-key-0123"),
    )


@pytest.mark.parametrize("loglevel", ["warning", "error", "info"])
def test_the_root_logger_stays_at_the_chosen_level(
    loglevel: str, root_logger: logging.Logger, tmp_path: Path
) -> None:
    worker = built(tmp_path)
    level = logging.getLevelName(loglevel.upper())
    # As mode's Worker._setup_logging leaves it, before faust's hook: at warning
    # and above, that hook added its spinner's handler and set the root logger to DEBUG.
    root_logger.setLevel(level)
    root_logger.addHandler(logging.NullHandler())  # (the hook sets the first handler's level)
    runner(worker, loglevel).on_setup_root_logger(root_logger, level)
    assert root_logger.level == level
    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)


def test_the_consumer_faust_builds_lets_the_broker_wait_for_more_records(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    worker = built(tmp_path, fetch_wait=0.02)
    loop = runner(worker, "warning").loop  # (the loop faust's worker set up)
    consumer = worker.app.consumer

    async def made() -> Any:
        """The aiokafka consumer faust's consumer thread makes when it starts
        (faust-streaming 0.15.3); aiokafka's fetcher reads the two settings then."""
        return consumer._thread._create_consumer(loop=asyncio.get_running_loop())

    faust_default = loop.run_until_complete(made())
    assert (faust_default._fetch_min_bytes, faust_default._fetch_max_wait_ms) == (1, 1500)

    fetch_every(consumer, worker.options.fetch_wait)

    client = loop.run_until_complete(made())
    assert (client._fetch_min_bytes, client._fetch_max_wait_ms) == (MIN_BYTES, 20)
