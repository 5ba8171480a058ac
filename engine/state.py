"""What the engine keeps per household, and its compact binary form.

A household's state is one msgpack blob of array-like structs (no field names
on the wire): members with their place and life flags, a rolling window of
monthly amounts (each member's wages and pension or benefit; the household's
out-of-pocket medical spending), a bounded ledger of the records applied in
the months that can still be corrected (which is also what makes re-applying
a record a no-op), asset flags, detector and model state, and what was
already alerted. ``STATE_VERSION`` is stored first so a later version can
migrate old blobs.

Amounts are whole yuan (ints pack small); days and months are indexes from
:mod:`engine.timeline`.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from typing import TypeVar

import msgspec

STATE_VERSION = 1
_V = TypeVar("_V")

# Sources of the monthly ledger.
WAGE, PENSION, BENEFIT, MEDICAL, DEPOSIT = 1, 2, 3, 4, 5
SOURCE_NAMES = {
    WAGE: "wage",
    PENSION: "pension",
    BENEFIT: "unemployment_benefit",
    MEDICAL: "medical_out_of_pocket",
    DEPOSIT: "deposit",
}


class MemberState(msgspec.Struct, array_like=True, omit_defaults=True):
    """One member: who (pseudonym), where in the household, and what happened to them."""

    person: str
    position: int
    relation: str
    joined: int  # day index of the roster record that added them
    left: int | None = None  # day removed from the household
    died: int | None = None  # day of death (registration)
    disability: int = 0  # certified level, 1 most severe; 0 none
    moved_out: int | None = None  # day their registration moved out of the county
    moved_to: str | None = None
    jobs: dict[str, int] = {}  # employer -> day started (positive) or ended (negative, -day-1)
    wages: list[int] = []  # monthly wages, aligned with HouseholdState.base_month
    transfers: list[int] = []  # monthly pension and unemployment benefit, aligned likewise
    # (month, source) of rows of the member's income that could not be read (source 0:
    # a row whose kind could not be read either); sorted, months in the window
    unread: list[tuple[int, int]] = []

    def active(self, day: int) -> bool:
        return self.joined <= day and (self.left is None or day < self.left)

    def alive_at(self, day: int) -> bool:
        return self.died is None or day < self.died


class Entry(msgspec.Struct, array_like=True, order=True):
    """One applied record in a correctable month: enough to undo or skip it.

    Entries compare as tuples of their fields (``order``): the ledger's order.
    A ledger holds one entry per record (key and source: a correction replaces
    its entry), so no two entries tie on month, source, position and key.
    """

    month: int
    source: int
    position: int  # the member it belongs to (0: the household)
    key: int  # 32 bits of the event id
    fingerprint: int  # 32 bits of the record's fingerprint
    amount: int  # whole yuan


class AlertRecord(msgspec.Struct, array_like=True):
    """An alert already raised, so later evidence revises it instead of repeating it."""

    alert_id: str
    detector: str
    month: int  # the month of its story
    revision: int
    status: str
    digest: int  # 32 bits of its evidence, to tell an update from a repeat
    monthly: bool = False  # raised by a month decision, so a re-decision can withdraw it
    day: int = -1  # the day its cooldown counts from (-1: the first day of its month)


class HouseholdState(msgspec.Struct, array_like=True, omit_defaults=True):
    v: int
    household: str
    region: str
    scheme: str
    enrolled: int  # day
    members: list[MemberState]
    base_month: int  # month index of position 0 of every monthly list
    residence: str | None = None
    exited: int | None = None  # day
    declared_income: int = 0
    monthly_benefit: int = 0
    medical: list[int] = []
    ledger: list[Entry] = []
    assets: dict[
        str, int
    ] = {}  # kind -> day first registered (property, vehicle, company, deposit)
    decided: int = -1  # the last month index evaluated at month close
    latest: int = 0  # the latest month any of its records arrived in
    since: int = -1  # the earliest month with an amount on record: where its known history starts
    alerts: list[AlertRecord] = []
    cooldown: dict[str, int] = {}  # detector -> day of its last alert for this household
    models: dict[str, list[float]] = {}  # per-household model state, by detector
    redo: list[int] = []  # decided months a late record changed: decided again at the next turn

    def member(self, person: str) -> MemberState | None:
        return next((m for m in self.members if m.person == person), None)

    def member_at(self, position: int) -> MemberState | None:
        return next((m for m in self.members if m.position == position), None)


# Deterministic: dict keys sorted, so equal states are equal bytes.
_encoder = msgspec.msgpack.Encoder(order="deterministic")
_decoder = msgspec.msgpack.Decoder(HouseholdState)


class StateError(ValueError):
    """A stored state cannot be read (corrupt, or of an unknown version)."""


def encode_state(state: HouseholdState) -> bytes:
    """The blob; lists whose order is only the order records arrived in are sorted first,
    and dicts put in key order, so the state is the one the blob decodes to
    (:class:`SavedStates` hands it out again instead of decoding)."""
    state.members.sort(key=_by_position)
    state.ledger.sort()  # (month, source, position, key): compared in C, 4 times faster
    state.alerts.sort(key=_alert_order)
    for member in state.members:
        member.jobs = _key_order(member.jobs)
    state.assets = _key_order(state.assets)
    state.cooldown = _key_order(state.cooldown)
    state.models = _key_order(state.models)
    return _encoder.encode(state)


def _key_order(mapping: dict[str, _V]) -> dict[str, _V]:
    """The dict with its keys in order (itself when they already are)."""
    if len(mapping) < 2:
        return mapping
    keys = list(mapping)
    return mapping if keys == sorted(keys) else {k: mapping[k] for k in sorted(keys)}


# Sort keys of encode_state, which every household saved goes through.
_by_position = operator.attrgetter("position")
_alert_order = operator.attrgetter("month", "alert_id")


def decode_state(blob: bytes) -> HouseholdState:
    try:
        state = _decoder.decode(blob)
    except msgspec.DecodeError as exc:
        raise StateError(f"household state cannot be decoded: {exc}") from None
    if state.v != STATE_VERSION:
        raise StateError(f"household state version {state.v} is not {STATE_VERSION}")
    return state


class SavedStates:
    """The households an engine last saved, decoded, so that its next step need not
    decode them again (most households are read by many steps: a record, a month).

    A state is handed out once (:meth:`take` removes it) and comes back only
    with the blob it was written as (:meth:`keep`, after the write): a step
    that fails part way, having changed its states in place, leaves nothing
    behind. :meth:`take` compares the stored blob with the kept one, so a
    household another writer changed since is decoded afresh. The least
    recently saved are dropped beyond ``limit``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._saved: OrderedDict[str, tuple[bytes, HouseholdState]] = OrderedDict()

    def take(self, household: str, blob: bytes) -> HouseholdState:
        """The state ``blob`` holds (the one kept with it, else decoded)."""
        kept = self._saved.pop(household, None)
        if kept is not None and (kept[0] is blob or kept[0] == blob):
            return kept[1]
        return decode_state(blob)

    def keep(self, household: str, blob: bytes, state: HouseholdState) -> None:
        """``state`` was just written as ``blob`` (by :func:`encode_state`)."""
        self._saved[household] = (blob, state)
        self._saved.move_to_end(household)
        while len(self._saved) > self.limit:
            self._saved.popitem(last=False)
