"""The decide step in a process of its own.

Deciding (the household topic's messages through each partition's engine over
Redis, and its outbox) is most of what a worker computes. In a thread of the
worker's process it took turns with faust's event loop and the normaliser for
one interpreter lock: one core for all of it, and every fetch, send and
routing waited while an engine step held the lock. Here it runs in a child
process: the worker's process keeps the reading, routing and sending, and the
engines get a core of their own.

The child is spawned (not forked: the worker's process runs threads) with
the worker's options, config and key, and builds the same pipeline
(:func:`connectors.worker_options.build_pipeline`) over its own Redis client.
Its calls run one at a time in the order they were made (one process, one
queue), so a revoked partition's :func:`forget` lands after the step before
it. Messages go over as tuples and come back as tuples (pickled), not as
objects: a batch of 2,000 costs little either way.

A failure to reach Redis in the child comes back as :class:`StoreUnavailable`
(an ``OSError``, so the worker retries it as it retries its own), after the
child dropped the partitions' in-memory state. A child that dies (killed,
out of memory) is replaced at the next call and the call is made again: the
decide step may be repeated, since positions move only after its effects
are stored. A child whose parent died exits within a second; one whose parent stops
finishes its call first (the executor's own exit hook).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import logging.config
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from connectors.pipeline import Message, Outgoing, Pipeline, Tally
from connectors.worker_ops import log_config
from connectors.worker_options import STORE_ERRORS, WorkerOptions, build_pipeline
from detectors.catalog import EngineConfig
from engine.identity import Pseudonymiser

log = logging.getLogger("lifeline.worker")
T = TypeVar("T")

PARENT_CHECK_SECONDS = 1.0

# A message of the household topic on the way in: (offset, key, value).
Row = tuple[int, bytes | None, bytes]


class StoreUnavailable(OSError):
    """The engine process could not reach Redis (the name of the error it got)."""


# What a call on the engine process raises that the worker makes again: Redis out
# of reach (here or there), or a child that died (it is replaced).
RETRIED = (*STORE_ERRORS, BrokenProcessPool)


@dataclass
class Decided:
    """What one decide call did, on its way back to the worker's process."""

    outgoing: list[tuple[str, bytes | None, bytes, int | None, tuple[str, ...] | None]]
    cleared: dict[int, list[str]]  # partition -> households whose outboxes it read
    enrolled: dict[str, str]  # households enrolled meanwhile -> their county
    tally: Tally

    def messages(self) -> list[Outgoing]:
        return [Outgoing(*o) for o in self.outgoing]


class EngineProcess:
    """The child process and the calls made on it, from the worker's event loop."""

    def __init__(
        self, options: WorkerOptions, config: EngineConfig, pseudonymiser: Pseudonymiser
    ) -> None:
        # Only what the engine side needs: faust's settings may hold an SSL
        # context, which does not pickle (the Redis settings are plain values).
        self.options = dataclasses.replace(options, broker_settings=(), aiokafka_client=())
        self.config = config
        self.pseudonymiser = pseudonymiser
        self.pool: ProcessPoolExecutor | None = None
        self.started = 0  # children started, the first included

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
            self.pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.options, self.config, self.pseudonymiser, level, os.getpid()),
            )
            self.started += 1
        return self.pool

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the child; a child that died is replaced and the
        error raised (:data:`RETRIED`: the caller makes the call again)."""
        pool = self._pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            log.error("the engine process died; starting another")
            self.discard(pool)
            raise

    def send(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` in the child, in turn, without waiting for it (nothing
        to do when no child runs: a new one starts with nothing in memory)."""
        if self.pool is None:
            return
        try:
            self.pool.submit(fn, *args).add_done_callback(_log_failure)
        except (BrokenProcessPool, RuntimeError):
            self.discard(self.pool)

    def use(self, config: EngineConfig) -> None:
        """Swap ``config`` in, between two calls (and in any child started later)."""
        self.config = config
        self.send(child_use, config)

    def discard(self, pool: ProcessPoolExecutor) -> None:
        if self.pool is pool:
            self.pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a call on the engine process failed (%s)", type(future.exception()).__name__)


# --- in the child -----------------------------------------------------------------------

_pipeline: Pipeline | None = None


def _start(
    options: WorkerOptions,
    config: EngineConfig,
    pseudonymiser: Pseudonymiser,
    level: str,
    parent: int,
) -> None:
    # The worker's process decides when this one stops: Ctrl-C reaches the
    # whole process group, and a service manager's SIGTERM may too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.config.dictConfig(log_config(level))
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    global _pipeline
    _pipeline = build_pipeline(options, config, pseudonymiser, options.redis_store())


def _watch_parent(parent: int) -> None:
    """Exit once the worker's process is gone (killed: it could not stop this one)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _here() -> Pipeline:
    assert _pipeline is not None, "not in the engine process"
    return _pipeline


def child_decide(topic: str, shares: Sequence[tuple[int, Sequence[Row]]], settle: bool) -> Decided:
    """Each partition's messages through its engine (:meth:`Pipeline.decide`), in turn."""
    pipeline = _here()
    tally = Tally()
    outgoing: list[Outgoing] = []
    cleared: dict[int, list[str]] = {}
    try:
        for partition, rows in shares:
            messages = [Message(topic, partition, o, k, v) for o, k, v in rows]
            events, dead = pipeline.decode(messages, tally)
            out, cleared[partition] = pipeline.decide(partition, events, tally, settle)
            outgoing += dead + out
    except STORE_ERRORS as exc:
        for partition, _ in shares:
            pipeline.forget(partition)  # (its in-memory models may be ahead of the store)
        raise StoreUnavailable(type(exc).__name__) from None
    # The pipeline learns enrolments' counties as it decides; the worker's
    # process routes by them, so they go back (and are not kept here).
    enrolled, pipeline.homes = pipeline.homes, {}
    rows = [(o.topic, o.key, o.value, o.partition, o.reach) for o in outgoing]
    return Decided(rows, cleared, enrolled, tally)


def child_forget(partition: int) -> None:
    _here().forget(partition)


def child_use(config: EngineConfig) -> None:
    _here().use(config)


def child_ready() -> int:
    """The child's process id, once it has started (and built its pipeline)."""
    _here()
    return os.getpid()
