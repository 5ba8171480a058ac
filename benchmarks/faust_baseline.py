"""The baseline Lifeline is compared with: faust as a competent user would first write it.

    PYTHONPATH=. .venv/bin/python benchmarks/faust_baseline.py --namespace NS --app-id NS.faust

One agent iterates the department topics one record at a time (``async for
value in stream``), decodes each line the way Lifeline does (the same
:class:`~connectors.department_topics.DepartmentTopics`, so the same
validation and pseudonymisation), keeps each household's state as a JSON
document in Redis through ``redis.asyncio`` (one GET and one SET per record),
applies the record-level rules straightforwardly (a death of an earner or of
the last member, a severe disability newly certified, an asset or savings
above the limit, with the thresholds of config/detectors.toml) and sends
alerts, and rejects, to topics. Progress is faust's own committed offsets.

What it leaves out, in its favour: no month decisions (income drop, job loss,
lines, models), no re-keying hop, no outbox or saved positions, no ledger of
applied records (a record delivered twice is applied twice), records of a
person not yet enrolled are dropped rather than held, and the person to
household directory is a dict in the process (it would be lost on a restart
and wrong with a second worker; a faust table or a second Redis read would fix
that at a cost). The pseudonymisation key comes from ``LIFELINE_PSEUDONYM_KEY``
as for ``lifeline worker``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/faust_baseline.py` without PYTHONPATH
    sys.path.insert(0, str(ROOT))

import faust  # noqa: E402
import orjson  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from connectors.department_topics import DepartmentTopics  # noqa: E402
from connectors.files import Reject  # noqa: E402
from connectors.mapping import Catalog  # noqa: E402
from connectors.pipeline import Topics  # noqa: E402
from connectors.secrets import pseudonymiser_from_env  # noqa: E402
from engine import events as ev  # noqa: E402

KEPT_MONTHS = 8  # income months kept per member: the earner rule looks 6 back


def month_number(text: str) -> int:
    """``YYYY-MM`` (or a timestamp) as a month count."""
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def thresholds(config_dir: Path) -> dict[str, dict[str, Any]]:
    """The record rules' parameters, as config/detectors.toml sets them."""
    document = tomllib.loads((config_dir / "detectors.toml").read_text())
    return {d["name"]: d.get("params", {}) for d in document["detectors"]}


class Rules:
    """Straightforward checks of one record against one household's JSON document."""

    def __init__(self, params: dict[str, dict[str, Any]]) -> None:
        earner = params.get("earner_death", {})
        self.min_share = float(earner.get("min_share", 0.4))
        self.share_months = int(earner.get("months", 6))
        self.max_level = int(params.get("disability_onset", {}).get("max_level", 2))
        assets = params.get("asset_acquired", {})
        self.vehicle_limit = float(assets.get("vehicle_limit", 100000))
        self.deposit_limit = float(assets.get("deposit_limit", 100000))

    @staticmethod
    def new_household(event: ev.RosterEnrolled) -> dict[str, Any]:
        return {
            "region": event.region,
            "members": {m.person: {"income": {}, "died": None, "level": 0} for m in event.members},
            "deposits": {},
        }

    def apply(self, state: dict[str, Any], event: ev.Event) -> list[dict[str, Any]]:
        """Update the document; the alerts the record raises."""
        members = state["members"]
        person = getattr(event, "person", None)
        if isinstance(event, ev.RosterMemberAdded):
            members.setdefault(event.person, {"income": {}, "died": None, "level": 0})
            return []
        member = members.get(person) if person else None
        if member is None:
            return []
        found: list[dict[str, Any]] = []
        if isinstance(event, ev.Wage | ev.Pension | ev.UnemploymentBenefit):
            income = member["income"]
            key = f"{event.month}/{event.__struct_config__.tag}"
            income[key] = event.amount
            latest = max(month_number(k) for k in income)
            for old in [k for k in income if month_number(k) <= latest - KEPT_MONTHS]:
                del income[old]
        elif isinstance(event, ev.Death):
            member["died"] = event.event_time[:10]
            died = month_number(event.event_time)
            window = range(died - self.share_months, died)
            total = sum(self.income(m, window) for m in members.values())
            share = self.income(member, window) / total if total else 0.0
            if share >= self.min_share:
                found.append(self.alert("earner_death", event, income_share=round(share, 3)))
            if all(m["died"] for m in members.values()):
                found.append(self.alert("sole_member_died", event, members=len(members)))
        elif isinstance(event, ev.DisabilityCertified):
            before, member["level"] = member["level"], int(event.level)
            if event.level <= self.max_level and not (0 < before <= self.max_level):
                found.append(self.alert("disability_onset", event, level=int(event.level)))
        elif isinstance(event, ev.PropertyRegistered | ev.CompanyRegistered):
            found.append(self.alert("asset_acquired", event, asset=event.__struct_config__.tag))
        elif isinstance(event, ev.VehicleRegistered) and event.value > self.vehicle_limit:
            found.append(self.alert("asset_acquired", event, asset="vehicle", value=event.value))
        elif isinstance(event, ev.DepositBalance):
            month = month_number(event.month)
            deposits = state["deposits"]
            deposits.setdefault(str(month), {})[person] = event.balance
            for old in [k for k in deposits if int(k) <= month - KEPT_MONTHS]:
                del deposits[old]
            total = sum(deposits[str(month)].values())
            before = sum(deposits.get(str(month - 1), {}).values())
            if total > self.deposit_limit >= before:
                found.append(self.alert("asset_acquired", event, asset="deposit", total=total))
        return found

    @staticmethod
    def income(member: dict[str, Any], months: range) -> float:
        return sum(v for k, v in member["income"].items() if month_number(k) in months)

    @staticmethod
    def alert(detector: str, event: ev.Event, **values: Any) -> dict[str, Any]:
        return {
            "detector": detector,
            "event_id": event.event_id,
            "region": event.region,
            "event_time": event.event_time,
            "values": values,
        }


def build_app(args: argparse.Namespace) -> faust.App:
    topics = Topics(args.namespace)
    catalog = Catalog.load(args.config / "connectors")
    departments = DepartmentTopics(catalog, pseudonymiser_from_env(), topics.department_prefix)
    rules = Rules(thresholds(args.config))
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        datadir=str(args.data_dir / f"{args.app_id}-data"),  # not the working directory
    )
    source = app.topic(*(topics.department(d) for d in sorted(catalog.mappings)))
    alerts = app.topic(args.alerts_topic or f"{args.app_id}.alerts")
    rejects = app.topic(topics.rejects)
    store = aioredis.Redis.from_url(args.redis)
    household_of: dict[str, str] = {}  # person -> household (see the module's note)
    prefix = args.key_prefix

    @app.agent(source)
    async def check(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            message = stream.current_event.message  # type: ignore[union-attr]
            for item in departments.decode(message.topic, message.partition, message.offset, value):
                if isinstance(item, Reject):
                    await rejects.send(key=None, value=ev.encode(item))
                    continue
                if isinstance(item, ev.RosterEnrolled):
                    for member in item.members:
                        household_of[member.person] = item.household
                elif isinstance(item, ev.RosterMemberAdded):
                    household_of[item.person] = item.household
                household = getattr(item, "household", None) or household_of.get(
                    getattr(item, "person", "")
                )
                if household is None:  # an end-of-batch, or a person not enrolled (yet)
                    continue
                key = f"{prefix}hh:{household}"
                blob = await store.get(key)
                if blob is None:
                    if not isinstance(item, ev.RosterEnrolled):
                        continue
                    state = rules.new_household(item)
                else:
                    state = orjson.loads(blob)
                found = rules.apply(state, item)
                await store.set(key, orjson.dumps(state))
                for alert in found:
                    alert["household"] = household
                    await alerts.send(key=household.encode(), value=orjson.dumps(alert))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    parser.add_argument("--namespace", default="", help="prefix of the department topics")
    parser.add_argument("--app-id", default="faust-baseline", help="faust app id (its group)")
    parser.add_argument("--key-prefix", default="faust:", help="prefix of its Redis keys")
    parser.add_argument("--alerts-topic", default="", help="default: <app-id>.alerts")
    parser.add_argument("--config", type=Path, default=ROOT / "config")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lifeline",
        help="where faust keeps its folder (as `lifeline worker --data-dir`)",
    )
    parser.add_argument("--loglevel", default="warning")
    args = parser.parse_args()
    app = build_app(args)
    # faust's worker handles SIGTERM and Ctrl-C (stops cleanly, commits what it acked).
    faust.Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
