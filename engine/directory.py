"""Person to household, from the roster's dated records.

Most departments know only persons. The roster says, with dates, when a person
joined or left a household; a person's memberships are derived from those
dated facts, never from the order the roster records arrived in, so a removal
that arrives before the enrolment it ends still ends it.

A record about a person who is in no household on its date is *held*
(:class:`Pending`): applied when the person is enrolled within the configured
event-time horizon after it, otherwise expired and counted.
"""

from __future__ import annotations

import msgspec

JOIN, LEAVE = 1, 0


class Fact(msgspec.Struct, array_like=True, frozen=True, order=True):
    """A dated roster fact about one person: joined or left a household."""

    day: int
    kind: int  # JOIN or LEAVE; on one day a leave sorts before a join (a move)
    household: str


class PersonIndex(msgspec.Struct, array_like=True):
    facts: list[Fact] = []

    def add(self, fact: Fact) -> bool:
        """Record a fact; False if it was already known (a repeated roster record)."""
        if fact in self.facts:
            return False
        self.facts.append(fact)
        self.facts.sort()
        return True

    def as_of(self, day: int) -> tuple[str | None, str | None]:
        """On ``day``: the household the person belongs to, and the one they last
        left (on or before that day); None where there is none."""
        current: str | None = None
        left: str | None = None
        for fact in self.facts:
            if fact.day > day:
                break
            if fact.kind == JOIN:
                current = fact.household
            else:
                left = fact.household
                if fact.household == current:
                    current = None
        return current, left

    def household_at(self, day: int) -> str | None:
        """The household the person belongs to on ``day``, if any."""
        return self.as_of(day)[0]

    def joined_after(self, day: int, horizon_days: int) -> str | None:
        """The household the person joins within ``horizon_days`` after ``day``.

        Records from shortly before an enrolment (the months of wages that
        led to the application) become that household's history.
        """
        for fact in self.facts:
            if fact.kind == JOIN and day < fact.day <= day + horizon_days:
                return fact.household
        return None

    def resolve(self, day: int, horizon_days: int) -> str | None:
        """The household a record of ``day`` belongs to, now or by an enrolment soon after."""
        return self.household_at(day) or self.joined_after(day, horizon_days)

    def left_before(self, day: int) -> str | None:
        """The household the person last left on or before ``day`` (None: never left one)."""
        return self.as_of(day)[1]

    def households(self) -> list[str]:
        return sorted({f.household for f in self.facts if f.kind == JOIN})


class Held(msgspec.Struct, array_like=True, frozen=True):
    """A record waiting for its person to be enrolled."""

    day: int  # the record's event day
    event: bytes  # the event as contract JSON


class Pending(msgspec.Struct, array_like=True):
    records: list[Held] = []


_index_encoder = msgspec.msgpack.Encoder(order="deterministic")
_index_decoder = msgspec.msgpack.Decoder(PersonIndex)
_pending_decoder = msgspec.msgpack.Decoder(Pending)


def encode_index(index: PersonIndex) -> bytes:
    return _index_encoder.encode(index)


def decode_index(blob: bytes | None) -> PersonIndex:
    return PersonIndex() if blob is None else _index_decoder.decode(blob)


def encode_pending(pending: Pending) -> bytes | None:
    return _index_encoder.encode(pending) if pending.records else None


def decode_pending(blob: bytes | None) -> Pending:
    return Pending() if blob is None else _pending_decoder.decode(blob)
