"""lifeline alerts tail against the real broker: fold, filter, commit, resume, stop cleanly."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from kafka import KafkaProducer

from connectors.cli import main
from engine.alert import Alert, parse_alert
from engine.events import encode
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = orjson.loads((ROOT / "docs" / "examples" / "alert.json").read_bytes())
LIFELINE = Path(sys.executable).parent / "lifeline"
GARBAGE = b"not an alert: 110105194912310021"


def alert(n: int, household: str, **changes: Any) -> Alert:
    return parse_alert({**EXAMPLE, "alert_id": f"al:{n:032x}", "household": household, **changes})


A1 = alert(1, "HB130126-0001")  # help, raised
A2 = alert(1, "HB130126-0001", revision=2, status="updated")
B1 = alert(2, "HB130126-0002", direction="review", detector="asset_acquired", member=None)
C1 = alert(3, "HB130126-0003", direction="data", detector="conflicting_records", status="capped")
D3 = alert(4, "HB130126-0004", direction="review", detector="income_above_line", revision=3,
           status="withdrawn", member=None)  # fmt: skip


def produce(bootstrap: str, topic: str, messages: list[Alert | bytes]) -> list[tuple[int, int]]:
    """Send each alert (or raw bytes) keyed by household; (partition, offset) of each."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        futures = [
            producer.send(
                topic,
                key=(m.household if isinstance(m, Alert) else "HB130126-0001").encode(),
                value=encode(m) if isinstance(m, Alert) else m,
            )
            for m in messages
        ]
        producer.flush(timeout=30)
        placed = [f.get(timeout=30) for f in futures]
    finally:
        producer.close()
    return [(p.partition, p.offset) for p in placed]


def tail(bootstrap: str, topic: str, group: str, *args: str) -> Result:
    runner = CliRunner()
    argv = ["alerts", "tail", "--bootstrap", bootstrap, "--topic", topic, "--group", group, *args]
    return runner.invoke(main, argv, catch_exceptions=False)


def json_alerts(text: str) -> list[Alert]:
    return [parse_alert(orjson.loads(line)) for line in text.splitlines()]


def test_tail_folds_copies_reports_garbage_and_resumes_where_it_stopped(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic("alerts", partitions=2)
    placed = produce(kafka_bootstrap, topic, [A1, B1, A1, GARBAGE, C1, A2, A1, D3])
    bad_partition, bad_offset = placed[3]

    first = tail(kafka_bootstrap, topic, group_id, "--from-beginning", "--json", "--timeout", "3")
    assert first.exit_code == 0, first.stderr
    shown = json_alerts(first.stdout)
    assert sorted(shown, key=lambda a: (a.alert_id, a.revision)) == [A1, A2, B1, C1, D3]
    assert shown.index(A1) < shown.index(A2)  # one household's alerts stay in order
    [warning] = first.stderr.splitlines()
    assert warning.startswith(
        f"lifeline: warning: {topic} partition {bad_partition} offset {bad_offset}: "
        "not a valid alert (JSON is malformed"
    )
    assert warning.endswith("; skipped") and "110105194912310021" not in warning

    # Everything read was committed: the same group sees nothing again.
    again = tail(kafka_bootstrap, topic, group_id, "--json", "--timeout", "2")
    assert (again.exit_code, again.stdout, again.stderr) == (0, "", "")

    # Later alerts are shown from where the group stopped, even produced while no tail ran.
    E1 = alert(5, "HB130126-0005", direction="help", detector="job_loss")
    produce(kafka_bootstrap, topic, [E1])
    later = tail(kafka_bootstrap, topic, group_id, "--json", "--timeout", "3")
    assert later.exit_code == 0, later.stderr
    assert json_alerts(later.stdout) == [E1]


def test_direction_filter_and_readable_lines(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic("alerts", partitions=1)
    produce(kafka_bootstrap, topic, [A1, B1, C1, B1, A2, D3])
    result = tail(kafka_bootstrap, topic, group_id, "--from-beginning", "--direction", "review",
                  "--direction", "data", "--timeout", "3")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    heads = [line for line in out.splitlines() if line.startswith("  ⚑")]
    assert len(heads) == 3  # B1 (once), C1, D3; never A1 or A2
    assert "REVIEW" in heads[0] and "asset_acquired" in heads[0] and "HB130126-0002" in heads[0]
    assert "DATA" in heads[1] and "HB130126-0003" in heads[1] and "capped r1" in heads[1]
    assert "HB130126-0004" in heads[2] and "withdrawn r3" in heads[2]
    assert "HB130126-0001" not in out and "earner_death" not in out
    assert out.count("evidence: a member with at least 40% of household income died") == 3
    assert "record 2026-03-02 registration.death (public_security, region 130126)" in out
    assert "capped: held back by the region's monthly alert cap" in out
    assert "3500" not in out and "4730" not in out  # evidence amounts stay in the JSON


def test_max_commits_only_what_was_shown(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic("alerts", partitions=1)
    produce(kafka_bootstrap, topic, [A1, B1, C1, D3])
    first = tail(kafka_bootstrap, topic, group_id, "--from-beginning", "--json", "--max", "2")
    assert first.exit_code == 0, first.stderr
    assert json_alerts(first.stdout) == [A1, B1]
    rest = tail(kafka_bootstrap, topic, group_id, "--json", "--timeout", "3")
    assert json_alerts(rest.stdout) == [C1, D3]


def test_a_missing_topic_or_a_bad_region_stops_with_a_clear_message(kafka_bootstrap: str) -> None:
    missing = tail(kafka_bootstrap, unique("test.no-such-alerts"), unique("g"), "--timeout", "1")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr and "config/kafka-topics.toml" in missing.stderr
    runner = CliRunner()
    bad = runner.invoke(
        main, ["alerts", "tail", "--region", "1301", "--bootstrap", kafka_bootstrap]
    )
    assert bad.exit_code == 2 and "not a 6-digit region code" in bad.stderr


def test_the_region_topics_exist_on_the_broker(kafka_bootstrap: str, kafka_admin) -> None:  # type: ignore[no-untyped-def]
    # scripts/kafka_ready.py creates every [[topic]] of config/kafka-topics.toml.
    wanted = ["alerts.130126", "alerts.130424"]
    found = {t["name"]: len(t["partitions"]) for t in kafka_admin.describe_topics(wanted)
             if t.get("error_code", 0) == 0}  # fmt: skip
    assert found == {"alerts.130126": 4, "alerts.130424": 4}


def read_until(process: subprocess.Popen[bytes], out: int, err: int, timeout: float) -> tuple[list[bytes], list[bytes]]:  # fmt: skip
    """Lines of a running process's stdout and stderr, until `out` and `err` lines came or `timeout`."""
    assert process.stdout is not None and process.stderr is not None
    selector = selectors.DefaultSelector()
    buffers = {process.stdout.fileno(): b"", process.stderr.fileno(): b""}
    for stream in (process.stdout, process.stderr):
        selector.register(stream, selectors.EVENT_READ)
    o, e = process.stdout.fileno(), process.stderr.fileno()
    deadline = time.monotonic() + timeout
    while (buffers[o].count(b"\n") < out or buffers[e].count(b"\n") < err) and time.monotonic() < deadline:  # fmt: skip
        for key, _ in selector.select(timeout=max(deadline - time.monotonic(), 0)):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                selector.unregister(key.fileobj)
            buffers[key.fd] += chunk
        if not selector.get_map():
            break
    selector.close()
    return buffers[o].splitlines(), buffers[e].splitlines()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_console_script_runs_until_a_signal_then_exits_0_and_commits(
    kafka_bootstrap: str, new_topic: Callable[..., str], group_id: str, stop: signal.Signals
) -> None:
    assert LIFELINE.exists(), f"{LIFELINE}: the console script (pip install -e .)"
    topic = new_topic("alerts", partitions=2)
    produce(kafka_bootstrap, topic, [A1, A1, B1, GARBAGE, C1])
    argv = [str(LIFELINE), "alerts", "tail", "--bootstrap", kafka_bootstrap, "--topic", topic,
            "--group", group_id, "--from-beginning", "--json"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        lines, warnings = read_until(process, out=3, err=1, timeout=30)
        shown = sorted((parse_alert(orjson.loads(x)) for x in lines), key=lambda a: a.alert_id)
        assert shown == [A1, B1, C1]
        assert len(warnings) == 1 and b"not a valid alert" in warnings[0]
        assert process.poll() is None  # no --max, no --timeout: it keeps following
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    assert (stdout, stderr) == (b"", b"")  # nothing more, no traceback
    # What it printed was committed: the group resumes after it.
    resumed = tail(kafka_bootstrap, topic, group_id, "--json", "--timeout", "2")
    assert (resumed.exit_code, resumed.stdout, resumed.stderr) == (0, "", "")
