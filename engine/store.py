"""The one small protocol between the engine and where its state lives.

State is bytes under string keys, grouped so that everything about one
household lives under one hash tag (``hh:{H123}``): Redis Cluster keeps such
keys on one slot, so a household's update can be one atomic write. Indexes
(the households of a region) are sets. :class:`MemoryStore` is the embedded
default; the Redis store lives in ``connectors/`` and passes the same
contract suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import msgspec


def household_key(household: str) -> str:
    return f"hh:{{{household}}}"


def person_key(person: str) -> str:
    return f"ps:{{{person}}}"


def pending_key(person: str) -> str:
    return f"pd:{{{person}}}"


def region_key(region: str) -> str:
    return f"rg:{{{region}}}"


def model_key(region: str, detector: str) -> str:
    """A region's shared model of one detector (checkpointed after month decisions)."""
    return f"md:{{{region}}}:{detector}"


def region_index(region: str) -> str:
    """The set of households monitored in a region."""
    return f"rg:{{{region}}}:households"


def clock_key(scope: str) -> str:
    """The latest arrival time a scope (one engine of several) has seen."""
    return f"clock:{{{scope}}}"


def pending_index(scope: str) -> str:
    """Owners (persons, households) with held records, per scope."""
    return f"pending:{{{scope}}}"


def redo_index(scope: str) -> str:
    """Households with a decided month to decide again (a late record came), per scope."""
    return f"redo:{{{scope}}}"


def outbox_index(scope: str) -> str:
    """Households whose outbox holds alerts not yet published, per scope."""
    return f"outbox:{{{scope}}}"


def journal_key(scope: str) -> str:
    """A step's writes, kept while they are applied (see :meth:`Workspace.commit`)."""
    return f"jr:{{{scope}}}"


def outbox_key(household: str) -> str:
    """Alerts recorded with the household's state and not yet published."""
    return f"hh:{{{household}}}:outbox"


SHARED_PREFIXES = ("ps:", "pd:")  # keys several workers may write: written only if unchanged


@dataclass(frozen=True)
class WriteGroup:
    """Writes that must land together or not at all (one hash tag).

    ``expect`` makes the group conditional: it is written only if each of
    those keys still holds the given value (None: absent), as read before.
    """

    values: Mapping[str, bytes | None]  # None deletes
    index_add: Sequence[tuple[str, str]] = ()  # (index, member)
    index_remove: Sequence[tuple[str, str]] = ()
    expect: Mapping[str, bytes | None] = field(default_factory=dict)


class StoreConflict(Exception):
    """Conditional groups not written because another writer changed their keys first.

    Every other group of the same write was applied.
    """

    def __init__(self, tags: Sequence[str]) -> None:
        super().__init__(f"changed by another writer: {', '.join(tags)}")
        self.tags = list(tags)


class Store(Protocol):
    # True when a whole write (every group) is applied or none of it is, even if
    # the writing process dies part way: the workspace then needs no journal.
    atomic: bool

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of the keys, in order (None where absent)."""
        ...

    def write(self, groups: Sequence[WriteGroup]) -> None:
        """Apply the groups in order; each group is atomic.

        Raises :class:`StoreConflict` (after applying the others) when a
        conditional group's expectations no longer hold.
        """
        ...

    def index_members(self, index: str) -> list[str]:
        """Members of an index set, sorted."""
        ...


@dataclass
class MemoryStore:
    """The embedded default: a dict of blobs and a dict of sets, in this process."""

    values: dict[str, bytes] = field(default_factory=dict)
    indexes: dict[str, set[str]] = field(default_factory=dict)
    atomic: ClassVar[bool] = True  # one call in this process: a crash loses it all

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.values.get(key) for key in keys]

    def write(self, groups: Sequence[WriteGroup]) -> None:
        conflicts = []
        for group in groups:
            if any(self.values.get(k) != v for k, v in group.expect.items()):
                conflicts.append(hash_tag(next(iter(group.expect))))
                continue
            for key, value in group.values.items():
                if value is None:
                    self.values.pop(key, None)
                else:
                    self.values[key] = value
            for index, member in group.index_add:
                self.indexes.setdefault(index, set()).add(member)
            for index, member in group.index_remove:
                self.indexes.get(index, set()).discard(member)
        if conflicts:
            raise StoreConflict(conflicts)

    def index_members(self, index: str) -> list[str]:
        return sorted(self.indexes.get(index, ()))

    def size_bytes(self, prefix: str = "") -> int:
        return sum(len(v) for k, v in self.values.items() if k.startswith(prefix))


class Workspace:
    """The state one batch reads and writes: loaded once, written once.

    Reads go to the store in bulk (:meth:`prefetch`); a key read again comes
    from here. Writes are kept until :meth:`commit`, which sends them as one
    atomic group per hash tag.
    """

    def __init__(self, store: Store, journal: str | None = None) -> None:
        self.store = store
        self.journal = None if store.atomic else journal
        self._loaded: dict[str, bytes | None] = {}
        self._dirty: dict[str, bytes | None] = {}
        # (index, member) -> True to add, False to remove: the last word of the step
        # counts (a household taken off an index and put back in one step stays on).
        self._index: dict[tuple[str, str], bool] = {}
        self.reads = 0

    def prefetch(self, keys: Iterable[str]) -> None:
        missing = sorted({k for k in keys if k not in self._loaded and k not in self._dirty})
        if missing:
            self.reads += 1
            for key, value in zip(missing, self.store.get_many(missing), strict=True):
                self._loaded[key] = value

    def get(self, key: str) -> bytes | None:
        if key in self._dirty:
            return self._dirty[key]
        if key not in self._loaded:
            self.prefetch([key])
        return self._loaded[key]

    def put(self, key: str, value: bytes | None) -> None:
        self._dirty[key] = value

    def index_add(self, index: str, member: str) -> None:
        self._index[(index, member)] = True

    def index_remove(self, index: str, member: str) -> None:
        self._index[(index, member)] = False

    def commit(self) -> int:
        """Write what changed; returns the number of writes sent.

        Index additions go first and removals last, so that a crash between
        writes leaves at worst an index naming a key that is not there (which
        readers skip), never a key its index has lost. Groups of keys several
        workers may write (:data:`SHARED_PREFIXES`) are conditional on what
        this workspace read under their tag; :class:`StoreConflict` says which
        lost the race (everything else is written).
        """
        groups: dict[str, dict[str, bytes | None]] = {}
        for key, value in self._dirty.items():
            if self._loaded.get(key, b"\0absent") == value:
                continue  # unchanged: a replayed record writes nothing
            groups.setdefault(hash_tag(key), {})[key] = value
        adds = [pair for pair, add in self._index.items() if add]
        removes = [pair for pair, add in self._index.items() if not add]
        writes = [WriteGroup({}, index_add=group) for group in _by_tag(adds).values()]
        shared = {tag for tag, values in groups.items() if any(map(_is_shared, values))}
        read: dict[str, dict[str, bytes | None]] = {tag: {} for tag in shared}
        if shared:  # what this workspace read under each such tag (one pass, not one per tag)
            for key, value in self._loaded.items():
                under = read.get(hash_tag(key))
                if under is not None:
                    under[key] = value
        for tag, values in sorted(groups.items()):
            writes.append(WriteGroup(values, expect=read.get(tag, {})))
        writes += [WriteGroup({}, index_remove=group) for group in _by_tag(removes).values()]
        if self.journal and len(writes) > 1:
            # All or nothing across hash tags: the writes go out behind a copy of
            # themselves under one key, removed after them in the same pipeline.
            # A process killed half way leaves the copy, which the next one to
            # open this journal applies first (:func:`recover`).
            journal = {self.journal: encode_journal(writes)}
            writes = [WriteGroup(journal), *writes, WriteGroup({self.journal: None})]
        try:
            if writes:
                self.store.write(writes)
        finally:
            self._loaded.update(self._dirty)
            self._dirty.clear()
            self._index.clear()
        return len(writes)


_journal_encoder = msgspec.msgpack.Encoder()
_journal_decoder = msgspec.msgpack.Decoder(
    list[
        tuple[
            dict[str, bytes | None],
            list[tuple[str, str]],
            list[tuple[str, str]],
            dict[str, bytes | None],
        ]
    ]
)


def encode_journal(groups: Sequence[WriteGroup]) -> bytes:
    return _journal_encoder.encode(
        [(dict(g.values), list(g.index_add), list(g.index_remove), dict(g.expect)) for g in groups]
    )


def recover(store: Store, journal: str) -> int:
    """Finish the writes of a step that was cut short; returns the groups applied again.

    Applying them twice is harmless (they set values, add and remove set
    members); a conditional group whose keys changed since is left out, and
    the records that caused it, not yet acknowledged, come again.
    """
    blob = store.get_many([journal])[0]
    if blob is None:
        return 0
    groups = [WriteGroup(v, a, r, e) for v, a, r, e in _journal_decoder.decode(blob)]
    try:
        store.write([*groups, WriteGroup({journal: None})])
    except StoreConflict:
        pass
    return len(groups)


def _by_tag(pairs: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for index, member in sorted(set(pairs)):
        out.setdefault(hash_tag(index), []).append((index, member))
    return out


def _is_shared(key: str) -> bool:
    return key.startswith(SHARED_PREFIXES)


def hash_tag(key: str) -> str:  # the hash tag: what Redis Cluster places by
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start >= 0 and end > start + 1 else key
