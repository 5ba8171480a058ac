"""The store contract on the real Redis server, and what a household costs there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from connectors.redis_store import RedisStore
from engine.store import household_key
from tests.engine.factory import engine, enrol, person, wage
from tests.engine.store_contract import StoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(redis_url)
    yield RedisStore(client, prefix)
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
