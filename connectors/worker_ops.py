"""What operators see of a worker: metrics, logs and the config it runs.

- :class:`Metrics`: Prometheus metrics in the worker's own registry, served at
  ``/metrics``. Labels are departments, reasons, detectors, directions,
  regions and partitions: never a person, a household or an amount.
- :func:`log_config`: JSON log lines on stderr; every message passes
  :class:`Redact`, which masks anything shaped like an ID number and withholds
  message payloads, at every level and from every library (at debug, aiokafka
  logs the key and value of every message sent and every record batch fetched).
- :class:`ConfigWatcher`: notices when the files that shape alerts change.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from detectors.catalog import VERSION_FILES
from engine.identity import redact_id_tokens

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, config_version: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records_in = Counter(
            "lifeline_records_in", "Department records consumed", ["department"], registry=r
        )
        self.rejects = Counter(
            "lifeline_rejects", "Records sent to the dead-letter topic", ["reason"], registry=r
        )
        self.alerts = Counter(
            "lifeline_alerts",
            "Alerts published (each once per revision)",
            ["detector", "direction", "region"],
            registry=r,
        )
        self.forwarded = Counter(
            "lifeline_forwarded", "Records sent on to the partition owning their household",
            registry=r,
        )  # fmt: skip
        self.engine = Counter(
            "lifeline_engine_outcomes", "What the engine did with records", ["outcome"], registry=r
        )
        self.batch_seconds = Histogram(
            "lifeline_batch_seconds", "Time to handle one batch", ["step"], buckets=SECONDS,
            registry=r,
        )  # fmt: skip
        self.step_seconds = Histogram(
            "lifeline_step_seconds",
            "Time of one part of a batch: normalise, engine, outbox, positions (Redis and "
            "the engine's work), send (until the broker acknowledged)",
            ["step"], buckets=SECONDS, registry=r,
        )  # fmt: skip
        self.store_errors = Counter(
            "lifeline_redis_errors", "Calls that failed because Redis was unreachable", registry=r
        )
        self.send_errors = Counter(
            "lifeline_send_errors", "Batches of messages the broker did not take", registry=r
        )
        self.lag = Gauge(
            "lifeline_consumer_lag", "Messages not yet consumed", ["topic", "partition"],
            registry=r,
        )  # fmt: skip
        self.assigned = Gauge("lifeline_assigned_partitions", "Partitions held", registry=r)
        self.held = Gauge(
            "lifeline_held_records",
            "Department records read and waiting for an earlier arrival elsewhere",
            registry=r,
        )
        self.clock_checks = Counter(
            "lifeline_clock_checks",
            "Looks at whether the household topic is decided to its end, before the clock "
            "moves on: answered by the worker's own sends, or by Redis and the broker",
            ["by"],
            registry=r,
        )
        self.reloads = Counter(
            "lifeline_config_reloads", "Config changes seen", ["outcome"], registry=r
        )
        self.config = Gauge(
            "lifeline_config_info", "The config version in use", ["version"], registry=r
        )
        self.use(config_version)

    def use(self, version: str) -> None:
        self.config.clear()
        self.config.labels(version).set(1)

    def count(self, tally: Any) -> None:
        for department, n in tally.records_in.items():
            self.records_in.labels(department).inc(n)
        for reason, n in tally.rejects.items():
            self.rejects.labels(reason).inc(n)
        for (detector, direction, region), n in tally.alerts.items():
            self.alerts.labels(detector, direction, region).inc(n)
        if tally.forwarded:
            self.forwarded.inc(tally.forwarded)
        for outcome, n in tally.engine.items():
            if outcome.startswith(("applied:", "held", "released", "expired", "poison", "store_")):
                self.engine.labels(outcome).inc(n)

    def exposition(self) -> tuple[bytes, str]:
        # (aiohttp takes the charset apart from the content type)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST.split(";")[0]


# A bytes literal as repr() writes it (possibly cut short): at debug level aiokafka
# logs every message it sends (key and value) and every record batch it fetches or
# produces, which carry pseudonyms, amounts and, when a department does not compress,
# names and ID numbers.
_BYTES = re.compile(r"""(?<![A-Za-z0-9_])b(?:'(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$))""")
_SHORT_BYTES = 40  # short ones (a tick's key, an empty batch) stay: they help debugging


def _withhold_bytes(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if len(text) <= _SHORT_BYTES else f"<{len(text)} characters of bytes withheld>"


def redact(message: str) -> str:
    """A log message without message payloads or ID-shaped tokens.

    >>> redact("Sending (key=b'tick' value=b'psn:k1:aaaaaaaaaaaaaaaaaaaaaaaa 3000.0')")
    "Sending (key=b'tick' value=<41 characters of bytes withheld>)"
    >>> redact("person 110105194912310021 failed")
    'person 110105############ failed'
    """
    return redact_id_tokens(_BYTES.sub(_withhold_bytes, message))


class Redact(logging.Filter):
    """Masks ID-shaped tokens and withholds payloads in the final message (drops the arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["error"] = record.exc_text
        return orjson.dumps(entry).decode()


def log_config(level: str) -> dict[str, Any]:
    """A logging.config dictConfig: JSON lines on stderr, redacted, for every logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}},
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["redact"],
                "formatter": "json",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


class ConfigWatcher:
    """Says which of the files that shape alerts changed since it last looked."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.seen = self.digests()

    def digests(self) -> dict[str, str]:
        found = {}
        for name in VERSION_FILES:
            try:
                found[name] = hashlib.sha256((self.config_dir / name).read_bytes()).hexdigest()
            except OSError:
                found[name] = "unreadable"
        return found

    def changed(self) -> list[str]:
        now = self.digests()
        names = sorted(n for n in now if now[n] != self.seen.get(n))
        self.seen = now
        return names
