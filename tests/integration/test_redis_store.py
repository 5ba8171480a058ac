"""The store contract on the real Redis server, and what a household costs there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from connectors.redis_store import RedisStore
from engine.store import Workspace, WriteGroup, household_key
from tests.engine.factory import engine, enrol, person, wage
from tests.engine.store_contract import StoreContract

pytestmark = pytest.mark.integration


@pytest.fixture(params=[True, False], ids=["one-transaction", "per-group"])
def store(redis_url: str, request: pytest.FixtureRequest) -> Iterator[RedisStore]:
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(redis_url)
    yield RedisStore(client, prefix, atomic=request.param)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


class TestRedisStore(StoreContract):
    pass


def test_a_typical_household_fits_in_two_kib(store: RedisStore) -> None:
    members = [(person(n), rel) for n, rel in ((1, "head"), (2, "spouse"), (3, "child"))]
    history = [enrol("H1", members)]
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    history += [wage(members[0][0], m, 3100.0) for m in months]
    history += [wage(members[1][0], m, 1900.0, employer="E2") for m in months]
    engine(store).process(history)
    usage = store.memory_usage(household_key("H1"))
    assert usage is not None and usage <= 2048, usage


def _commands_of(store: RedisStore, groups: list[WriteGroup], redis_url: str) -> list[str]:
    """The commands the server receives for one write (its MONITOR stream)."""
    watcher = redis.Redis.from_url(redis_url)
    seen: list[str] = []
    with watcher.monitor() as monitor:
        store.write(groups)
        store.client.ping()
        while True:
            command = monitor.next_command()["command"]
            if command.startswith("PING"):
                break
            if store.prefix in command or command in ("MULTI", "EXEC"):
                seen.append(command.split()[0])
    watcher.close()
    return seen


def test_an_atomic_store_writes_a_batch_as_one_transaction(
    store: RedisStore, redis_url: str
) -> None:
    groups = [
        WriteGroup({"hh:{A}": b"a"}),
        WriteGroup({"hh:{B}": b"b"}, index_add=[("rg:{X}:households", "B")]),
        WriteGroup({"ps:{P}": b"p"}, expect={"ps:{P}": None}),
    ]
    commands = _commands_of(store, groups, redis_url)
    if store.atomic:  # all or nothing: a worker killed part way leaves no half-written batch
        assert commands[0] == "MULTI" and commands[-1] == "EXEC"
        assert commands.count("MULTI") == 1 and commands.count("EXEC") == 1, commands
        assert commands.count("SET") >= 2 and "EVALSHA" in commands
        assert Workspace(store, "jr:{p0}").journal is None
    else:  # per group, as a Redis Cluster needs: the workspace keeps a journal
        assert commands.count("MULTI") == 2 and commands.count("EXEC") == 2, commands
        assert Workspace(store, "jr:{p0}").journal == "jr:{p0}"
    assert store.get_many(["hh:{A}", "hh:{B}", "ps:{P}"]) == [b"a", b"b", b"p"]
