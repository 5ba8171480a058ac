"""Alerts recorded with the state change that caused them, kept until published.

The engine writes each alert into its household's outbox
(:func:`~engine.store.outbox_key`, same hash tag as the state, so the same
atomic write) and names the household in its scope's outbox index. Whoever
publishes reads the outboxes, sends them, and only once the broker has
acknowledged them removes them (:func:`clearing`); a crash in between publishes them
again on restart, as identical copies under the same alert id and revision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from engine.alert import Alert, parse_alert
from engine.events import encode
from engine.store import Store, WriteGroup, outbox_index, outbox_key

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[bytes])


def encode_outbox(alerts: Sequence[Alert]) -> bytes:
    """The alerts as their contract JSON documents (what is published, byte for byte)."""
    return _encoder.encode([encode(a) for a in alerts])


def decode_outbox(blob: bytes | None) -> list[Alert]:
    return [parse_alert(msgspec.json.decode(b)) for b in _decoder.decode(blob)] if blob else []


def waiting(store: Store, scope: str) -> list[str]:
    """Households of the scope whose outbox may hold alerts."""
    return store.index_members(outbox_index(scope))


def read(store: Store, households: Iterable[str]) -> dict[str, list[Alert]]:
    """Each household's waiting alerts, in the order they were recorded."""
    names = sorted(set(households))
    blobs = store.get_many([outbox_key(h) for h in names])
    return {h: decode_outbox(b) for h, b in zip(names, blobs, strict=True)}


def clearing(scope: str, households: Iterable[str]) -> list[WriteGroup]:
    """The writes that forget published outboxes (the keys first, then the index entries)."""
    names = sorted(set(households))
    if not names:
        return []
    return [WriteGroup({outbox_key(h): None}) for h in names] + [
        WriteGroup({}, index_remove=[(outbox_index(scope), h) for h in names])
    ]
