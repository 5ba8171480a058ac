"""The Redis features Lifeline's per-household state relies on, on a real server
with redis-py's hiredis parser (see STACK-NOTES "Redis")."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.utils

pytestmark = pytest.mark.integration


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(r: redis.Redis) -> Iterator[str]:
    """A key prefix of this test only; its keys are deleted afterwards."""
    p = f"test:{uuid.uuid4().hex}:"
    yield p
    keys = list(r.scan_iter(match=f"{p}*", count=1000))
    if keys:
        r.delete(*keys)


def test_hiredis_parser_in_use(r: redis.Redis) -> None:
    assert redis.utils.HIREDIS_AVAILABLE
    conn = r.connection_pool.get_connection()
    try:
        assert "Hiredis" in type(conn._parser).__name__
    finally:
        r.connection_pool.release(conn)


def test_set_get(r: redis.Redis, prefix: str) -> None:
    assert r.set(f"{prefix}a", "é1") is True
    assert r.get(f"{prefix}a") == "é1".encode()
    assert r.set(f"{prefix}a", "2", nx=True) is None  # NX: exists, not overwritten
    assert r.get(f"{prefix}a") == "é1".encode()
    assert r.get(f"{prefix}missing") is None
    r.set(f"{prefix}ttl", "x", ex=60)
    assert 0 < r.ttl(f"{prefix}ttl") <= 60


def test_pipeline_of_1000_commands(r: redis.Redis, prefix: str) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"{prefix}k{i}", i)
    for i in range(500):
        pipe.incrby(f"{prefix}k{i}", 1000)
    results = pipe.execute()
    assert len(results) == 1000
    assert results[:500] == [True] * 500
    assert results[500:] == [i + 1000 for i in range(500)]
    values = r.mget([f"{prefix}k{i}" for i in range(500)])
    assert [int(v) for v in values] == [i + 1000 for i in range(500)]


# Read-modify-write in one step: bump a household's counter and log the new
# value. Run concurrently, a non-atomic GET/SET version could hand out the same
# number twice; EVALSHA runs scripts atomically, so every number appears once.
BUMP = """
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0') + 1
redis.call('HSET', KEYS[1], 'n', n)
redis.call('RPUSH', KEYS[2], n)
return n
"""


def test_lua_script_is_atomic(r: redis.Redis, prefix: str) -> None:
    bump = r.register_script(BUMP)
    state, log = f"{prefix}{{H1}}:state", f"{prefix}{{H1}}:log"
    threads_n, per_thread = 8, 150
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            client = redis.Redis(connection_pool=r.connection_pool)
            for _ in range(per_thread):
                bump(keys=[state, log], client=client)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "script calls hung"
    assert not errors, errors

    total = threads_n * per_thread
    assert r.script_exists(bump.sha) == [True]  # it ran as EVALSHA from the cache
    assert int(r.hget(state, "n")) == total
    logged = [int(x) for x in r.lrange(log, 0, -1)]
    assert sorted(logged) == list(range(1, total + 1))  # each number exactly once


def test_multi_exec_transaction_and_watch(r: redis.Redis, prefix: str) -> None:
    key, other = f"{prefix}{{H2}}:balance", f"{prefix}{{H2}}:history"
    r.set(key, 100)

    pipe = r.pipeline(transaction=True)
    pipe.incrby(key, -30).rpush(other, "-30").get(key)
    assert pipe.execute() == [70, 1, b"70"]

    # Optimistic locking: a write by someone else between WATCH and EXEC
    # aborts the transaction instead of overwriting it.
    with r.pipeline(transaction=True) as pipe:
        pipe.watch(key)
        current = int(pipe.get(key))
        r.set(key, 5)  # a concurrent writer
        pipe.multi()
        pipe.set(key, current - 10)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get(key) == b"5"


def test_memory_usage_of_small_hash(r: redis.Redis, prefix: str) -> None:
    small = f"{prefix}small"
    r.hset(small, mapping={f"f{i}": f"{i * 1.5:.2f}" for i in range(10)})
    usage = r.memory_usage(small)
    assert isinstance(usage, int) and usage > 0
    # Small hashes use the compact encoding (listpack; ziplist before Redis 7)...
    assert r.object("encoding", small) in (b"listpack", b"ziplist")

    # ...which one value over hash-max-listpack-value (64 bytes) gives up.
    blob = f"{prefix}blob"
    r.hset(blob, mapping={f"f{i}": f"{i * 1.5:.2f}" for i in range(10)})
    r.hset(blob, "big", "x" * 200)
    assert r.object("encoding", blob) == b"hashtable"
    assert r.memory_usage(blob) > usage + 200
