#!/usr/bin/env python3
"""Wait until a Kafka broker answers, then create the topics Lifeline needs.

Used by scripts/services.sh (and usable by hand):

    .venv/bin/python scripts/kafka_ready.py --bootstrap 127.0.0.1:19092 --timeout 60 \
        --topics-file config/kafka-topics.toml

"Answers" means a real Kafka metadata exchange succeeds and at least one
broker is registered, not just that the port accepts connections: a KRaft
broker opens its port before it can serve requests, and anything else
listening on the port (a stray server) must not count as Kafka.

Topics missing from the cluster are created; existing ones are left alone
(their partition count is only compared, with a warning on mismatch).

Exit status: 0 ready (and topics present), 1 not ready before the timeout or
topic creation failed, 2 bad arguments or topics file, 3 the process given by
--watch-pid exited while we were waiting (the broker died: no point waiting).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka import errors as kerrors

PROG = "kafka_ready"


def fail(code: int, message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def load_topics(path: Path) -> dict[str, dict[str, Any]]:
    """Read [[topic]] entries into the dict form KafkaAdminClient.create_topics takes."""
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        fail(2, f"cannot read topics file {path}: {exc}")
    topics: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(doc.get("topic", []), start=1):
        name = entry.get("name")
        partitions = entry.get("partitions")
        if not isinstance(name, str) or not name:
            fail(2, f"{path}: topic #{i} has no name")
        if not isinstance(partitions, int) or partitions < 1:
            fail(2, f"{path}: topic {name!r} needs partitions >= 1")
        if name in topics:
            fail(2, f"{path}: topic {name!r} is listed twice")
        unknown = set(entry) - {"name", "partitions", "replication_factor", "config"}
        if unknown:
            fail(2, f"{path}: topic {name!r} has unknown keys {sorted(unknown)}")
        # Kafka topic configs are strings on the wire; TOML lets us write numbers.
        config = {
            str(k): str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in entry.get("config", {}).items()
        }
        topics[name] = {
            "num_partitions": partitions,
            "replication_factor": int(entry.get("replication_factor", -1)),
            "configs": config,
        }
    return topics


def watch_pid(pid: int) -> None:
    """Exit the whole process (code 3) as soon as `pid` is gone.

    The admin client blocks inside its constructor while bootstrapping, so the
    liveness check runs in a daemon thread rather than between attempts.
    """

    def run() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                print(
                    f"{PROG}: process {pid} exited while waiting for the broker",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(3)
            except PermissionError:
                pass  # exists, owned by someone else
            time.sleep(0.2)

    threading.Thread(target=run, name="watch-pid", daemon=True).start()


def describe(exc: BaseException) -> str:
    text = str(exc)  # kafka-python's errors already start with their class name
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


def connect(bootstrap: str, timeout: float) -> tuple[KafkaAdminClient, dict[str, Any]]:
    """Return an admin client and the cluster description once a broker is registered."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    admin = None
    while time.monotonic() < deadline:
        remaining_ms = max(int((deadline - time.monotonic()) * 1000), 100)
        try:
            if admin is None:
                # One client, bootstrapping for the whole remaining time; short
                # reconnect backoff because the broker appears within seconds.
                admin = KafkaAdminClient(
                    bootstrap_servers=bootstrap,
                    client_id="lifeline-kafka-ready",
                    bootstrap_timeout_ms=remaining_ms,
                    request_timeout_ms=min(remaining_ms, 10_000),
                    reconnect_backoff_ms=50,
                    reconnect_backoff_max_ms=500,
                )
            cluster = admin.describe_cluster()
            if cluster.get("brokers"):
                return admin, cluster
            last_error = "metadata lists no brokers yet"
        except kerrors.KafkaError as exc:
            last_error = describe(exc)
        except OSError as exc:
            last_error = describe(exc)
        time.sleep(0.2)
    if admin is not None:
        admin.close()
    fail(1, f"no Kafka broker answered on {bootstrap} within {timeout:g} s ({last_error})")
    raise AssertionError("unreachable")


def ensure_topics(
    admin: KafkaAdminClient, wanted: dict[str, dict[str, Any]], deadline: float
) -> tuple[list[str], list[str]]:
    """Create missing topics; return (created, already_present)."""
    existing = {t["name"]: t for t in admin.describe_topics() if t.get("error_code", 0) == 0}
    present = [name for name in wanted if name in existing]
    for name in present:
        have = len(existing[name].get("partitions") or [])
        want = wanted[name]["num_partitions"]
        if have != want:
            print(
                f"{PROG}: warning: topic {name} has {have} partitions, "
                f"{want} configured (left unchanged)",
                file=sys.stderr,
            )
    missing = {name: spec for name, spec in wanted.items() if name not in existing}
    if not missing:
        return [], present

    # A just-started controller can refuse the first requests (not yet leader,
    # broker not yet registered): retry until the deadline.
    last_error = ""
    while True:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            fail(1, f"could not create topics {sorted(missing)}: {last_error}")
        result = admin.create_topics(
            missing, timeout_ms=min(remaining_ms, 15_000), raise_errors=False
        )
        retry: dict[str, dict[str, Any]] = {}
        for topic in result["topics"]:
            error = kerrors.for_code(topic["error_code"])
            name = topic["name"]
            if error is kerrors.NoError or error is kerrors.TopicAlreadyExistsError:
                continue  # TopicAlreadyExists: someone else created it meanwhile
            if getattr(error, "retriable", False):
                retry[name] = missing[name]
                last_error = f"{name}: {error.__name__} {topic.get('error_message') or ''}"
            else:
                fail(
                    1,
                    f"cannot create topic {name}: {error.__name__}: "
                    f"{topic.get('error_message') or ''}",
                )
        if not retry:
            break
        missing = retry
        time.sleep(0.5)

    created = [name for name in wanted if name not in existing]
    # CreateTopics only says the controller accepted them; wait until every
    # partition has a leader so that producers started right after us work.
    remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1_000)
    try:
        admin.wait_for_topics(created, timeout_ms=remaining_ms)
    except kerrors.KafkaTimeoutError as exc:
        fail(1, f"topics created but not ready: {exc}")
    return created, present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument(
        "--topics-file", type=Path, help="TOML with [[topic]] entries to create; none = only wait"
    )
    parser.add_argument(
        "--watch-pid", type=int, help="give up at once (exit 3) if this process exits"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no 'broker answered' line (the topics line stays)"
    )
    parser.add_argument("--verbose", action="store_true", help="show kafka-python's own logs")
    args = parser.parse_args(argv)

    # kafka-python logs every refused connection at ERROR while we poll a
    # broker that is still starting: expected here, so silence it by default.
    kafka_log = logging.getLogger("kafka")
    if args.verbose:
        logging.basicConfig(level=logging.INFO)
    else:
        kafka_log.addHandler(logging.NullHandler())
        kafka_log.propagate = False

    wanted = load_topics(args.topics_file) if args.topics_file else {}
    if args.watch_pid:
        watch_pid(args.watch_pid)

    started = time.monotonic()
    deadline = started + args.timeout
    admin, cluster = connect(args.bootstrap, args.timeout)
    answered = time.monotonic() - started
    try:
        created, present = ensure_topics(admin, wanted, deadline) if wanted else ([], [])
    finally:
        admin.close()

    if not args.quiet:
        print(
            f"{PROG}: broker {args.bootstrap} answered in {answered:.1f} s "
            f"(cluster {cluster.get('cluster_id')}, {len(cluster['brokers'])} broker(s))",
            flush=True,
        )
    if wanted:
        print(
            f"{PROG}: topics of {args.topics_file}: {len(created)} created, "
            f"{len(present)} already present",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
