"""The decide step in a process of its own (connectors/engine_process.py), on the real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from connectors.engine_process import (
    RETRIED,
    EngineProcess,
    StoreUnavailable,
    child_decide,
    child_ready,
)
from connectors.pipeline import Message, Outgoing, Tally
from connectors.worker_options import WorkerOptions, build_pipeline
from detectors.catalog import load_engine_config
from engine.events import encode
from engine.identity import Pseudonymiser
from tests.engine.factory import REGION, ROOT, enrol, event, person, wage

KEY = ("t", b"engine-process-test-key-0123")


def options(redis_url: str, tmp_path: Path) -> WorkerOptions:
    return WorkerOptions(
        ROOT / "config",
        "127.0.0.1:1",  # (no Kafka: the engine process never reaches it)
        redis_url,
        partitions=4,
        namespace="t.",
        key_prefix=f"ep-{uuid.uuid4().hex[:10]}:",
        data_dir=tmp_path,
    )


def engine_process(opts: WorkerOptions) -> EngineProcess:
    return EngineProcess(opts, load_engine_config(opts.config_dir), Pseudonymiser(*KEY))


def household_story() -> list[bytes]:
    head, spouse = person(1), person(2)
    records = [enrol("H1", [(head, "head"), (spouse, "spouse")])]
    records += [wage(head, f"2025-0{m}", 3200.0) for m in range(1, 7)]
    records.append(event("registration.death", "2025-07-03", person=head))
    return [encode(r) for r in records]


def test_the_engine_process_decides_as_the_worker_process_would(
    redis_url: str, tmp_path: Path
) -> None:
    values = household_story()
    here = options(redis_url, tmp_path)
    pipeline = build_pipeline(
        here, load_engine_config(here.config_dir), Pseudonymiser(*KEY), here.redis_store()
    )
    partition = pipeline.router.partition_of(REGION)
    rows = [(offset, b"H1", value) for offset, value in enumerate(values)]
    rows.append((len(rows), b"H1", b"not an event"))  # a dead letter on the way

    tally = Tally()
    messages = [Message("t.events.by_household", partition, o, k, v) for o, k, v in rows]
    events, dead = pipeline.decode(messages, tally)
    out, cleared = pipeline.decide(partition, events, tally)
    expected = dead + out

    child = engine_process(options(redis_url, tmp_path))
    decided = asyncio.run(
        child.call(child_decide, "t.events.by_household", [(partition, rows)], False)
    )
    assert comparable(decided.messages()) == comparable(expected)
    assert any(o.topic == "t.alerts" for o in expected) and any(
        o.topic == "t.rejects" for o in expected
    )
    assert decided.cleared == {partition: cleared} == {partition: ["H1"]}
    assert decided.enrolled == pipeline.homes == {"H1": REGION}
    assert decided.tally == tally
    assert all(isinstance(o, Outgoing) for o in decided.messages())


def comparable(out: list[Outgoing]) -> list[Outgoing]:
    """A dead letter says when it was set aside: that second differs between two runs."""
    return [
        dataclasses.replace(o, value=re.sub(rb'"received_at":"[^"]*"', b"", o.value))
        if o.topic == "t.rejects"
        else o
        for o in out
    ]


def test_a_dead_engine_process_is_replaced_at_the_next_call(redis_url: str, tmp_path: Path) -> None:
    child = engine_process(options(redis_url, tmp_path))

    async def run() -> tuple[int, int]:
        first = await child.call(child_ready)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            await child.call(child_ready)
        return first, await child.call(child_ready)

    first, second = asyncio.run(run())
    assert first != second and child.started == 2
    assert issubclass(BrokenProcessPool, RETRIED)  # (the worker makes the call again)


def test_redis_out_of_reach_in_the_engine_process_is_an_error_the_worker_retries(
    tmp_path: Path,
) -> None:
    child = engine_process(options("redis://127.0.0.1:1/0", tmp_path))
    rows = [(offset, b"H1", value) for offset, value in enumerate(household_story())]
    with pytest.raises(StoreUnavailable, match="ConnectionError") as raised:
        asyncio.run(child.call(child_decide, "t.events.by_household", [(1, rows)], False))
    assert isinstance(raised.value, RETRIED)


def test_an_engine_process_whose_worker_was_killed_exits(redis_url: str, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from tests.integration.test_engine_process import engine_process, options
        from connectors.engine_process import child_ready
        from pathlib import Path
        child = engine_process(options({redis_url!r}, Path({str(tmp_path)!r})))
        print(asyncio.run(child.call(child_ready)), flush=True)
        time.sleep(600)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        pid = int(worker.stdout.readline())
        os.kill(pid, 0)  # (running)
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not running(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"the engine process {pid} outlived its worker by 10 s")


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process its new parent has not reaped yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
