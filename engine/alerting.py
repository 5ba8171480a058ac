"""From findings to alerts: ids, stories, revisions, cooldowns, caps, reason texts.

The one place an alert is made. A finding already alerted with the same
values is silent; with new values it is a new revision (``updated``); a month
re-decided without a finding it had raised withdraws that alert, and its
cooldown with it. A new trigger of a detector within its cooldown is
suppressed and counted; beyond the region's monthly cap an alert is kept with
status ``capped``.
"""

from __future__ import annotations

import hashlib
import string
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine import events as ev
from engine.alert import (
    Alert,
    AlertMember,
    Evidence,
    EvidenceRecord,
    Story,
    alert_id_for,
    story_id_for,
)
from engine.calendar import RegionCalendar
from engine.findings import Finding
from engine.state import AlertRecord, HouseholdState
from engine.timeline import day_index, day_timestamp, first_day, month_name

RELATIONS = {
    "zh": {
        "head": "户主",
        "spouse": "配偶",
        "child": "子女",
        "parent": "父母",
        "grandchild": "孙子女",
        "grandparent": "祖父母",
        "sibling": "兄弟姐妹",
        "other": "其他成员",
    },
    "en": {
        "head": "head",
        "spouse": "spouse",
        "child": "child",
        "parent": "parent",
        "grandchild": "grandchild",
        "grandparent": "grandparent",
        "sibling": "sibling",
        "other": "member",
    },
}


@dataclass(frozen=True)
class DetectorPolicy:
    """How the engine treats one detector's findings (from config)."""

    direction: str
    severity: str
    cooldown_days: int
    withdrawal_frees_cooldown: bool = True  # (False: a model's alert, which comes and goes)


@dataclass(frozen=True)
class Templates:
    """Reason texts per detector and language, ``str.format`` placeholders.

    ``terms`` translate the words detectors put in their values (``property``,
    ``cross_city``) into the reader's language.
    """

    texts: Mapping[str, Mapping[str, str]]
    terms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def render(self, detector: str, language: str, values: Mapping[str, Any], rule: str) -> str:
        words = self.terms.get(language, {})
        shown = {k: words.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
        template = self.texts.get(detector, {}).get(language)
        if template is not None:
            try:
                return string.Formatter().vformat(template, (), shown)
            except (KeyError, IndexError, ValueError):
                pass  # a value the template expects is absent: fall back to the rule
        listed = ", ".join(
            f"{k}={v}" for k, v in shown.items() if k not in ("who", "relation_text")
        )
        return f"{rule} ({listed})"


def _who(language: str, position: int, relation: str) -> str:
    """The member by place and relation ("第2位成员（子女）"), or the household."""
    if language == "zh":
        return f"第{position}位成员（{relation}）" if position else "该户"
    return f"member {position} ({relation})" if position else "the household"


def _digest(finding: Finding) -> int:
    body = orjson.dumps(
        {"values": finding.values, "baseline": finding.baseline, "features": finding.features},
        option=orjson.OPT_SORT_KEYS,
    )
    return int(hashlib.blake2b(body, digest_size=4).hexdigest(), 16)


def _evidence_record(evidence: Any) -> EvidenceRecord:
    event: ev.Event = evidence.event
    return EvidenceRecord(
        event_id=event.event_id,
        kind=str(event.__struct_config__.tag),
        event_time=event.event_time,
        department=event.department,
        region=event.region,
        values=dict(evidence.values),
    )


def _cooldown_day(record: AlertRecord) -> int:
    return record.day if record.day >= 0 else first_day(record.month)


def _restore_cooldown(state: HouseholdState, detector: str) -> None:
    """The detector's cooldown after a withdrawal: from its latest alert still standing.

    A withdrawn alert told of something the records no longer show; it must
    not keep the household's real finding of that detector quiet.
    """
    standing = [
        _cooldown_day(r) for r in state.alerts if r.detector == detector and r.status != "withdrawn"
    ]
    if standing:
        state.cooldown[detector] = max(standing)
    else:
        state.cooldown.pop(detector, None)


class AlertMaker:
    """Turns findings into alert revisions for one household at a time."""

    def __init__(
        self,
        policies: Mapping[str, DetectorPolicy],
        templates: Templates,
        language: str,
        config_version: str,
        cap_per_region_month: int,
    ) -> None:
        self.policies = policies
        self.templates = templates
        self.language = language
        self.config_version = config_version
        self.cap = cap_per_region_month
        self.counts: Counter[str] = Counter()

    def reconcile(
        self,
        state: HouseholdState,
        book: RegionCalendar,
        findings: list[Finding],
        processed_at: str,
        decided_month: int | None = None,
        silent: bool = False,
    ) -> list[Alert]:
        """Alerts for these findings; with ``decided_month``, withdraw that month's vanished ones.

        ``silent`` (backfill) records what would have been alerted, so history
        is not alerted later, but returns nothing.
        """
        out: list[Alert] = []
        ids = [alert_id_for(state.household, f.detector, f.trigger) for f in findings]
        if decided_month is not None:
            # Withdrawals first: what a late record took back no longer holds a
            # cooldown against the findings of the same decision.
            for record in state.alerts:
                policy = self.policies.get(record.detector)
                if (
                    policy is not None
                    and record.monthly
                    and record.month == decided_month
                    and record.alert_id not in ids
                    and record.status not in ("withdrawn",)
                ):
                    record.revision += 1
                    record.status = "withdrawn"
                    if policy.withdrawal_frees_cooldown:
                        _restore_cooldown(state, record.detector)
                    self.counts["withdrawn"] += 1
                    if not silent:
                        out.append(self._withdrawal(state, record, processed_at))
        for finding, alert_id in zip(findings, ids, strict=True):
            alert = self._one(
                state, book, finding, alert_id, processed_at, decided_month is not None
            )
            if alert is not None and not silent:
                out.append(alert)
        return out

    def _one(
        self,
        state: HouseholdState,
        book: RegionCalendar,
        finding: Finding,
        alert_id: str,
        processed_at: str,
        monthly: bool,
    ) -> Alert | None:
        policy = self.policies[finding.detector]
        digest = _digest(finding)
        record = next((r for r in state.alerts if r.alert_id == alert_id), None)
        day = day_index(finding.event_time) if finding.event_time else first_day(finding.month)
        if record is not None:
            if record.digest == digest and record.status != "withdrawn":
                self.counts["repeat"] += 1
                return None
            record.revision += 1
            if record.status == "withdrawn":  # raised again: its cooldown holds again
                day = _cooldown_day(record)
                state.cooldown[record.detector] = max(state.cooldown.get(record.detector, day), day)
            record.status = "updated" if record.status != "withdrawn" else "raised"
            record.digest = digest
            self.counts[record.status] += 1
            return self._alert(state, finding, policy, record, processed_at)
        last = state.cooldown.get(finding.detector)
        if last is not None and policy.cooldown_days and abs(day - last) < policy.cooldown_days:
            self.counts["cooldown"] += 1
            return None
        raised = book.alerts.get(finding.month, 0)
        status = "raised" if raised < self.cap else "capped"
        book.alerts[finding.month] = raised + 1
        record = AlertRecord(
            alert_id, finding.detector, finding.month, 1, status, digest, monthly, day
        )
        state.alerts.append(record)
        state.cooldown[finding.detector] = day
        self.counts[status] += 1
        return self._alert(state, finding, policy, record, processed_at)

    def _alert(
        self,
        state: HouseholdState,
        finding: Finding,
        policy: DetectorPolicy,
        record: AlertRecord,
        processed_at: str,
    ) -> Alert:
        member = state.member_at(finding.position) if finding.position else None
        relation = RELATIONS[self.language].get(member.relation, "") if member else ""
        values = {
            **finding.values,
            "household": state.household,
            "position": finding.position,
            "relation_text": relation,
            "who": _who(self.language, finding.position, relation),
            "month": month_name(finding.month),
        }
        month = month_name(finding.month)
        return Alert(
            alert_id=record.alert_id,
            revision=record.revision,  # type: ignore[arg-type]
            status=record.status,  # type: ignore[arg-type]
            household=state.household,
            member=AlertMember(
                person=member.person,
                position=member.position,  # type: ignore[arg-type]
                relation=member.relation,  # type: ignore[arg-type]
            )
            if member
            else None,
            region=state.region,
            direction=finding.direction or policy.direction,  # type: ignore[arg-type]
            detector=finding.detector,
            severity=policy.severity,  # type: ignore[arg-type]
            reason=self.templates.render(finding.detector, self.language, values, finding.rule),
            language=self.language,  # type: ignore[arg-type]
            evidence=Evidence(
                rule=finding.rule,
                values=dict(finding.values),
                baseline=dict(finding.baseline) if finding.baseline is not None else None,
                records=[_evidence_record(e) for e in finding.records],
                features=dict(finding.features) if finding.features is not None else None,
            ),
            event_time=finding.event_time or day_timestamp(first_day(finding.month)),
            processed_at=processed_at,
            config_version=self.config_version,
            story=Story(id=story_id_for(state.household, month), month=month),
        )

    def _withdrawal(self, state: HouseholdState, record: AlertRecord, processed_at: str) -> Alert:
        policy = self.policies[record.detector]
        month = month_name(record.month)
        text = self.templates.render(
            "withdrawn",
            self.language,
            {"detector": record.detector, "month": month},
            f"alert withdrawn: the records of {month} no longer support it",
        )
        return Alert(
            alert_id=record.alert_id,
            revision=record.revision,  # type: ignore[arg-type]
            status="withdrawn",
            household=state.household,
            region=state.region,
            direction=policy.direction,  # type: ignore[arg-type]
            detector=record.detector,
            severity=policy.severity,  # type: ignore[arg-type]
            reason=text,
            language=self.language,  # type: ignore[arg-type]
            evidence=Evidence(
                rule="withdrawn on re-decision of the month", values={"month": month}
            ),
            event_time=day_timestamp(first_day(record.month)),
            processed_at=processed_at,
            config_version=self.config_version,
            story=Story(id=story_id_for(state.household, month), month=month),
        )
