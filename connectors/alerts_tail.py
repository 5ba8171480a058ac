"""`lifeline alerts tail`: a caseworker's subscription to their county's alerts.

The worker publishes every alert revision, as its contract JSON keyed by the
household, to ``alerts`` and to its region's own topic ``alerts.<region>``
(so Kafka ACLs can give each county's caseworkers only their own topic). The
tail reads one of them with a consumer group, folds the copies a crashed
worker published twice (same ``alert_id`` and ``revision``), keeps the
directions asked for, and prints each alert as a caseworker reads it (what
happened, to which household, why, on what evidence; amounts only where the
reason text already says them) or as JSON lines.

A message that is not a valid alert is reported on stderr with its topic,
partition and offset, and skipped. Offsets are committed after what was read
has been printed, so a stopped tail (Ctrl-C, SIGTERM, ``--max``,
``--timeout``) resumes where it left off; an alert is shown at least once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import msgspec
from kafka import KafkaConsumer  # type: ignore[import-untyped]
from kafka import errors as kerrors
from kafka.structs import OffsetAndMetadata, TopicPartition  # type: ignore[import-untyped]

from connectors.cli_base import describe_alert
from engine.alert import Alert
from engine.events import RegionCode, encode
from engine.integers import dec_hook

TOPIC = "alerts"
SEEN_LIMIT = 100_000
BOOTSTRAP_TIMEOUT_MS = 10_000  # give up on an unreachable broker after this long
DIRECTIONS = ("help", "review", "data")

STATUS_NOTES = {
    "raised": "",
    "updated": "updated: this revision replaces the earlier ones",
    "withdrawn": "withdrawn: the earlier revisions no longer hold; no action needed",
    "capped": "capped: held back by the region's monthly alert cap; look at it when time allows",
}

_decoder = msgspec.json.Decoder(Alert, dec_hook=dec_hook)


class TailError(Exception):
    """The tail cannot start (bad region, missing topic, no broker); the message says why."""


def region_code(region: str) -> str:
    """The region's 6-digit code, checked; TailError otherwise."""
    try:
        return msgspec.convert(region, RegionCode)
    except msgspec.ValidationError:
        raise TailError(f"--region: not a 6-digit region code (GB/T 2260): {region!r}") from None


def topic_for(region: str | None) -> str:
    """``alerts.<region>``, or ``alerts`` (every region) without one.

    >>> topic_for("130126"), topic_for(None)
    ('alerts.130126', 'alerts')
    """
    return f"{TOPIC}.{region}" if region else TOPIC


def default_group(region: str | None) -> str:
    """``lifeline-tail-<region>`` (``lifeline-tail-all`` without a region)."""
    return f"lifeline-tail-{region or 'all'}"


def decode_alert(value: bytes | None) -> Alert:
    """The alert in a message value; msgspec.DecodeError (or ValidationError) if none."""
    if value is None:
        raise msgspec.DecodeError("empty message (no value)")
    return _decoder.decode(value)


class Seen:
    """The (alert_id, revision) pairs shown lately, forgetting the oldest beyond `limit`."""

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._pairs: OrderedDict[tuple[str, int], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pairs)

    def __contains__(self, pair: object) -> bool:
        return pair in self._pairs

    def add(self, alert_id: str, revision: int) -> bool:
        """Remember the pair; False if it was already there (a copy to fold)."""
        pair = (alert_id, int(revision))
        if pair in self._pairs:
            self._pairs.move_to_end(pair)
            return False
        self._pairs[pair] = None
        if len(self._pairs) > self.limit:
            self._pairs.popitem(last=False)
        return True


@dataclass
class Verdict:
    """What to do with one message: show `alert`, or say `warning`, or neither (skipped)."""

    alert: Alert | None = None
    warning: str | None = None
    skipped: str | None = None  # "duplicate", "direction", "region"


@dataclass
class Feed:
    """Turns message values into alerts to show: decodes, folds copies, filters."""

    directions: Collection[str] = DIRECTIONS
    region: str | None = None  # only this region's alerts (a per-region topic has no other)
    seen: Seen = field(default_factory=Seen)
    counts: dict[str, int] = field(default_factory=dict)

    def take(self, value: bytes | None, topic: str, partition: int, offset: int) -> Verdict:
        try:
            alert = decode_alert(value)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            self._count("invalid")
            problem = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return Verdict(
                warning=f"{topic} partition {partition} offset {offset}: "
                f"not a valid alert ({problem}); skipped"
            )
        if not self.seen.add(alert.alert_id, alert.revision):
            return self._skip("duplicate")
        # Filters come after folding: a copy of a filtered alert is filtered too.
        if alert.direction not in self.directions:
            return self._skip("direction")
        if self.region is not None and alert.region != self.region:
            return self._skip("region")
        self._count("shown")
        return Verdict(alert=alert)

    def _skip(self, why: str) -> Verdict:
        self._count(why)
        return Verdict(skipped=why)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _names(values: dict[str, Any] | None) -> str:
    return ", ".join(values) if values else ""


def evidence_lines(alert: Alert) -> list[str]:
    """The evidence as console lines: the rule, what was compared, the records.

    Names of the values and baseline only, never the numbers (they may be
    amounts); records by kind, date, department and region.
    """
    evidence = alert.evidence
    lines = [f"evidence: {evidence.rule}"]
    compared = _names(evidence.values)
    baseline = _names(evidence.baseline)
    if compared or baseline:
        lines.append(
            "  compared: "
            + (compared or "-")
            + (f"; against baseline: {baseline}" if baseline else "")
        )
    if evidence.features:
        ranked = sorted(evidence.features.items(), key=lambda item: -abs(item[1]))
        lines.append(f"  model features, strongest first: {', '.join(f for f, _ in ranked)}")
    for record in evidence.records:
        lines.append(
            f"  record {record.event_time[:10]} {record.kind} "
            f"({record.department}, region {record.region})"
        )
    return lines


def describe_tail(alert: Alert) -> str:
    """An alert as the tail prints it: the replay's console lines plus status and evidence."""
    pad = "      "
    lines = [describe_alert(alert)]
    note = STATUS_NOTES[alert.status]
    if note:
        lines.append(pad + note)
    lines.extend(pad + line for line in evidence_lines(alert))
    lines.append(
        f"{pad}{alert.alert_id} r{alert.revision}, story {alert.story.id}, "
        f"region {alert.region}, config {alert.config_version}, "
        f"processed {alert.processed_at[:16].replace('T', ' ')}"
    )
    return "\n".join(lines)


def render(alert: Alert, as_json: bool) -> str:
    """One JSON line (the alert's contract JSON), or the readable block."""
    if as_json:
        return encode(alert).decode()
    return describe_tail(alert)


@dataclass
class TailOptions:
    topic: str
    group: str
    bootstrap: str
    from_beginning: bool = False
    max_alerts: int | None = None  # stop after this many alerts shown
    idle_timeout: float | None = None  # stop after this many seconds without a message
    poll_ms: int = 500
    # More KafkaConsumer settings (security: SASL_SSL, TLS, credentials); bootstrap_servers
    # comes from `bootstrap`.
    client_settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class TailResult:
    shown: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    stopped_by: str = ""  # "max", "timeout", "signal"


class _Stop:
    """Set by SIGINT/SIGTERM; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True


@contextmanager
def _signals(stop: _Stop) -> Iterator[None]:
    """Route SIGINT and SIGTERM to `stop` (main thread only; elsewhere, nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def consumer_for(options: TailOptions) -> KafkaConsumer:
    """A KafkaConsumer in the group, subscribed to the topic; TailError if it cannot be."""
    try:
        consumer = KafkaConsumer(
            **{
                "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
                **options.client_settings,
                "bootstrap_servers": options.bootstrap,
                "group_id": options.group,
                "client_id": f"lifeline-tail-{options.group}",
                "auto_offset_reset": "earliest" if options.from_beginning else "latest",
                "enable_auto_commit": False,
            }
        )
    except kerrors.KafkaError as exc:
        raise TailError(f"no Kafka broker answered on {options.bootstrap} ({exc})") from None
    try:
        if not consumer.partitions_for_topic(options.topic):  # None or an empty set
            raise TailError(
                f"topic {options.topic} does not exist on {options.bootstrap}: each monitored "
                "region needs its alerts.<region> topic (config/kafka-topics.toml)"
            )
        consumer.subscribe([options.topic])
    except BaseException:
        consumer.close(autocommit=False)
        raise
    return consumer


def tail(
    options: TailOptions,
    feed: Feed,
    show: Callable[[Alert], None],
    warn: Callable[[str], None],
) -> TailResult:
    """Read, fold, filter and show until --max, --timeout or a signal; commit what was read.

    A message's offset is committed once it was shown (or skipped), after each
    poll and when the tail stops, so a stopped tail goes on where it stopped.
    """
    result = TailResult(counts=feed.counts)
    stop = _Stop()
    pending: dict[TopicPartition, OffsetAndMetadata] = {}

    def commit(consumer: KafkaConsumer) -> None:
        if not pending:
            return
        try:
            consumer.commit(dict(pending))
        except kerrors.KafkaError as exc:  # a rebalance took the partitions meanwhile
            warn(f"offsets not committed ({exc}); some alerts may be shown again")
        pending.clear()

    def idle_too_long(since: float) -> bool:
        return options.idle_timeout is not None and time.monotonic() - since >= options.idle_timeout

    with _signals(stop):
        consumer = consumer_for(options)
        try:
            last_message = time.monotonic()
            while not stop.requested:
                batches = consumer.poll(timeout_ms=options.poll_ms)
                if batches:
                    last_message = time.monotonic()
                for records in batches.values():
                    for record in records:
                        verdict = feed.take(
                            record.value, record.topic, record.partition, record.offset
                        )
                        if verdict.warning:
                            warn(verdict.warning)
                        if verdict.alert is not None:
                            show(verdict.alert)
                            result.shown += 1
                        where = TopicPartition(record.topic, record.partition)
                        pending[where] = OffsetAndMetadata(record.offset + 1, "", -1)
                        if options.max_alerts is not None and result.shown >= options.max_alerts:
                            result.stopped_by = "max"
                            return result
                commit(consumer)
                if idle_too_long(last_message):
                    result.stopped_by = "timeout"
                    return result
            result.stopped_by = "signal"
        except KeyboardInterrupt:  # a second Ctrl-C, in the middle of a poll
            result.stopped_by = "signal"
        finally:
            commit(consumer)
            consumer.close(autocommit=False)
    return result


def run_tail(
    options: TailOptions,
    directions: Collection[str] = DIRECTIONS,
    region: str | None = None,
    as_json: bool = False,
    out: Callable[[str], None] | None = None,
    err: Callable[[str], None] | None = None,
) -> TailResult:
    """The command's body: print alerts (readable or JSON lines) to stdout, warnings to stderr."""

    def _out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()  # before the offsets are committed

    def _err(line: str) -> None:
        sys.stderr.write(f"lifeline: warning: {line}\n")
        sys.stderr.flush()

    write = out or _out
    feed = Feed(directions=tuple(directions), region=region)
    return tail(options, feed, lambda alert: write(render(alert, as_json)), err or _err)
