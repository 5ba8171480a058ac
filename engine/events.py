"""The normalised event envelope (contract ``lifeline.event``, version 1).

Connectors turn each department's raw record into one of these typed structs;
the engine consumes nothing else. The JSON Schema published in
``engine/contracts/event.v1.schema.json`` is generated from these classes
(``lifeline contracts --write``) and tests prove that :func:`parse_event` and
the schema accept and reject the same documents.

Every event carries its event time (when it happened, or the month it is
about), its arrival time ``received_at``, the department, the record's own
region, its natural key and an ``event_id`` derived from department, kind and
natural key: the same record re-sent gets the same id, and the same id with a
different ``fingerprint`` is a correction of that record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any, Literal, get_args

import msgspec
import orjson

from engine.identity import PSEUDONYM_PATTERN
from engine.integers import DisabilityLevel, Position, RecordCount, Version, dec_hook, enc_hook

SCHEMA_VERSION = 1
CST = dt.timezone(dt.timedelta(hours=8), "CST")

Department = Literal[
    "civil_affairs",
    "public_security",
    "human_resources",
    "medical_insurance",
    "disabled_federation",
    "housing",
    "vehicles",
    "market_regulation",
    "banks",
    "exchange",
]
Channel = Literal["interface", "batch", "exchange"]

Pseudonym = Annotated[
    str, msgspec.Meta(pattern=PSEUDONYM_PATTERN, description="keyed HMAC pseudonym of a person")
]
RegionCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])[0-9]{4}$",
        description="6-digit administrative division code (GB/T 2260)",
    ),
]
Month = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="local month YYYY-MM")
]
# RFC 3339 date-time with an offset, written canonically (upper-case T and Z, at
# most microseconds). A pattern rather than msgspec's datetime type, because
# msgspec also accepts forms RFC 3339 does not ("2026-03-01 00:00:00+0800") and
# the parser must accept exactly what the published schema accepts.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
Timestamp = Annotated[
    str,
    msgspec.Meta(
        pattern=TIMESTAMP_PATTERN,
        description="RFC 3339 date-time with offset",
        extra_json_schema={"format": "date-time"},
    ),
]


def instant(value: str) -> dt.datetime:
    """The aware datetime of a contract timestamp."""
    return dt.datetime.fromisoformat(value)


def timestamp(moment: dt.datetime) -> str:
    """The contract form of an aware datetime, in local time (CST).

    >>> timestamp(dt.datetime(2026, 2, 28, 17, 0, tzinfo=dt.timezone.utc))
    '2026-03-01T01:00:00+08:00'
    """
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(CST).isoformat()


Yuan = Annotated[float, msgspec.Meta(ge=0, le=1e12, description="amount in yuan")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
HouseholdId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9_-]{1,40}$", description="civil-affairs case number of the household"
    ),
]
Relation = Literal[
    "head", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"
]


class Event(
    msgspec.Struct,
    kw_only=True,
    frozen=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Fields common to every event."""

    v: Version = SCHEMA_VERSION  # type: ignore[assignment]  # a plain int encodes as-is
    event_id: Annotated[str, msgspec.Meta(pattern=r"^ev:[0-9a-f]{32}$")]
    department: Department
    channel: Channel
    event_time: Timestamp
    received_at: Timestamp
    region: RegionCode
    natural_key: Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
    fingerprint: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
    source: Annotated[str, msgspec.Meta(max_length=400)] = ""

    def __post_init__(self) -> None:
        # The pattern fixes the shape; this rejects impossible dates (02-30).
        instant(self.event_time)
        instant(self.received_at)


class PersonEvent(Event, kw_only=True, frozen=True):
    person: Pseudonym


# --- civil affairs: the roster -------------------------------------------------


class Member(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    person: Pseudonym
    relation: Relation
    position: Position


class RosterEnrolled(Event, kw_only=True, frozen=True, tag="roster.enrolled"):
    household: HouseholdId
    scheme: Literal["dibao", "tekun", "low_income"]
    residence: Literal["urban", "rural"] | None = None  # which local line applies
    members: Annotated[list[Member], msgspec.Meta(min_length=1, max_length=30)]
    monthly_benefit: Yuan
    declared_income: Yuan


class RosterMemberAdded(PersonEvent, kw_only=True, frozen=True, tag="roster.member_added"):
    household: HouseholdId
    relation: Relation


class RosterMemberRemoved(PersonEvent, kw_only=True, frozen=True, tag="roster.member_removed"):
    household: HouseholdId
    reason: Text | None = None


class RosterExited(Event, kw_only=True, frozen=True, tag="roster.exited"):
    household: HouseholdId
    reason: Text | None = None


# --- public security: household registration -----------------------------------


class Birth(PersonEvent, kw_only=True, frozen=True, tag="registration.birth"):
    parent: Pseudonym | None = None


class Death(PersonEvent, kw_only=True, frozen=True, tag="registration.death"):
    pass


class MovedIn(PersonEvent, kw_only=True, frozen=True, tag="registration.moved_in"):
    from_region: RegionCode
    to_region: RegionCode


class MovedOut(PersonEvent, kw_only=True, frozen=True, tag="registration.moved_out"):
    from_region: RegionCode
    to_region: RegionCode


# --- human resources and social security ------------------------------------------


class Wage(PersonEvent, kw_only=True, frozen=True, tag="income.wage"):
    month: Month
    amount: Yuan
    employer: Text
    basis: Literal["wage", "contribution_base"] = "wage"


class Pension(PersonEvent, kw_only=True, frozen=True, tag="income.pension"):
    month: Month
    amount: Yuan


class UnemploymentBenefit(
    PersonEvent, kw_only=True, frozen=True, tag="income.unemployment_benefit"
):
    month: Month
    amount: Yuan


class EmploymentStarted(PersonEvent, kw_only=True, frozen=True, tag="employment.started"):
    employer: Text


class EmploymentEnded(PersonEvent, kw_only=True, frozen=True, tag="employment.ended"):
    employer: Text
    reason: Text | None = None


# --- medical insurance -------------------------------------------------------------


class MedicalSettlement(PersonEvent, kw_only=True, frozen=True, tag="medical.settlement"):
    settlement_id: Text
    total_cost: Yuan
    fund_paid: Yuan
    out_of_pocket: Yuan
    care: Literal["inpatient", "outpatient"]
    major_illness: bool = False


# --- disabled persons' federation --------------------------------------------------

DisabilityCategory = Literal[
    "visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple"
]


class DisabilityCertified(PersonEvent, kw_only=True, frozen=True, tag="disability.certified"):
    category: DisabilityCategory
    level: DisabilityLevel


class DisabilityCancelled(PersonEvent, kw_only=True, frozen=True, tag="disability.cancelled"):
    pass


# --- housing, vehicles, market regulation, banks -----------------------------------


class PropertyRegistered(PersonEvent, kw_only=True, frozen=True, tag="asset.property"):
    property_id: Text
    area_m2: Annotated[float, msgspec.Meta(gt=0, le=100000)] | None = None
    value: Yuan | None = None


class VehicleRegistered(PersonEvent, kw_only=True, frozen=True, tag="asset.vehicle"):
    vehicle_id: Text
    value: Yuan


class CompanyRegistered(PersonEvent, kw_only=True, frozen=True, tag="asset.company"):
    company_id: Text
    capital: Yuan


class DepositBalance(PersonEvent, kw_only=True, frozen=True, tag="asset.deposit"):
    month: Month
    balance: Yuan
    bank: Text


# --- every department: a row of income that could not be read -------------------------

IncomeKind = Literal["income.wage", "income.pension", "income.unemployment_benefit"]
ReasonCode = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="a reject's reason code")
]


class RecordUnreadable(PersonEvent, kw_only=True, frozen=True, tag="record.unreadable"):
    """A row of a person's monthly income that was rejected, but says whose month it was.

    The row itself is a dead letter (its reject has the same source). Its own
    ID number and month could be read, so the engine knows that this month's
    income of that kind is not known, rather than absent.
    """

    month: Month
    record_kind: IncomeKind | None = None  # None: the row's record type was unreadable too
    reason: ReasonCode  # the reject's reason code


# --- every department: end of a batch ----------------------------------------------


class BatchEnd(Event, kw_only=True, frozen=True, tag="batch.end"):
    """The department says its batch for this region and month is complete."""

    month: Month
    record_count: RecordCount


AnyEvent = (
    RosterEnrolled
    | RosterMemberAdded
    | RosterMemberRemoved
    | RosterExited
    | Birth
    | Death
    | MovedIn
    | MovedOut
    | Wage
    | Pension
    | UnemploymentBenefit
    | EmploymentStarted
    | EmploymentEnded
    | MedicalSettlement
    | DisabilityCertified
    | DisabilityCancelled
    | PropertyRegistered
    | VehicleRegistered
    | CompanyRegistered
    | DepositBalance
    | RecordUnreadable
    | BatchEnd
)

EVENT_TYPES: dict[str, type[Event]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(AnyEvent)
}
KINDS = tuple(EVENT_TYPES)

# Fields that describe the delivery, not the record: excluded from the fingerprint.
_ENVELOPE_FIELDS = frozenset(
    {"v", "event_id", "fingerprint", "received_at", "source", "channel", "natural_key"}
)


class EventError(ValueError):
    """A document is not a valid event; the message names the field."""


_decoder = msgspec.json.Decoder(AnyEvent, dec_hook=dec_hook)
_encoder = msgspec.json.Encoder(enc_hook=enc_hook)


def parse_event(document: dict[str, Any]) -> Event:
    """Validate a decoded JSON object into its typed event.

    Raises :class:`EventError` with msgspec's path to the offending field.
    """
    try:
        event: Event = msgspec.convert(document, AnyEvent, dec_hook=dec_hook)
        return event
    except msgspec.ValidationError as exc:
        raise EventError(str(exc)) from None


def decode_event(raw: bytes) -> Event:
    """Decode and validate one JSON event (the hot path of consumers)."""
    try:
        return _decoder.decode(raw)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise EventError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise EventError(f"not JSON: {exc}") from None


def encode(item: msgspec.Struct) -> bytes:
    """JSON of an event, an alert or a reject (bounded integers as plain ints)."""
    return _encoder.encode(item)


def event_id_for(department: str, kind: str, natural_key: str) -> str:
    """Stable id of a record: same department, kind and natural key, same id.

    >>> event_id_for("public_security", "registration.death", "psn:k1:abc")
    'ev:...'
    """
    digest = hashlib.blake2b(
        f"{department}\x1f{kind}\x1f{natural_key}".encode(), digest_size=16
    ).hexdigest()
    return f"ev:{digest}"


def fingerprint_of(content: dict[str, Any]) -> str:
    """Hash of a record's content, to tell a duplicate from a correction."""
    body = {k: v for k, v in content.items() if k not in _ENVELOPE_FIELDS}
    encoded = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def local_month(moment: dt.datetime | str) -> str:
    """The local (CST) month a moment falls in.

    >>> local_month(dt.datetime(2026, 2, 28, 17, 0, tzinfo=dt.timezone.utc))
    '2026-03'
    """
    if isinstance(moment, str):
        moment = instant(moment)
    return moment.astimezone(CST).strftime("%Y-%m")
