"""How long faust's consumer lets the broker wait before a fetch comes back.

faust builds its aiokafka consumer with ``fetch_min_bytes`` 1 and
``fetch_max_wait_ms`` 1500, and offers no setting for either: a fetch comes
back as soon as one record is there. When records come a few at a time
(departments sending as they go, and the household topic, which this worker
feeds itself), that is one fetch round trip per record or two, each encoding
and decoding every partition the worker holds in the consumer's thread: the
largest share of that thread's time in a profile of a worker at 225 records/s.

:func:`fetch_every` makes the broker answer once ``min_bytes`` are there or
``max_wait`` seconds have passed, whichever comes first: a few fetches a
record become at most one per ``max_wait`` when records trickle in, and a
backlog still fills each fetch at once. This reaches into one method of
faust-streaming 0.15.3 (``AIOKafkaConsumerThread._create_worker_consumer``,
pinned in constraints.txt); tests/connectors/test_worker_setup.py shows what
it expects of it.
"""

from __future__ import annotations

from typing import Any

MIN_BYTES = 64 * 1024  # a fetch with this much waiting comes back at once


def fetch_every(consumer: Any, max_wait: float, min_bytes: int = MIN_BYTES) -> None:
    """Make the aiokafka consumer that faust's ``consumer`` (its ``Consumer``) builds
    fetch until ``min_bytes`` are there or ``max_wait`` seconds have passed."""
    thread = consumer._thread  # (the consumer thread; it builds its aiokafka consumer on start)
    create = thread._create_worker_consumer

    def create_waiting(transport: Any) -> Any:
        client = create(transport)
        client._fetch_min_bytes = min_bytes  # (read when its fetcher is made, on start)
        client._fetch_max_wait_ms = max(1, round(max_wait * 1000))
        return client

    thread._create_worker_consumer = create_waiting
