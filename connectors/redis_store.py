"""The engine's state in Redis: one round trip to load a batch, one to save it.

Implements :class:`engine.store.Store`. Values are plain strings (one msgpack
blob per household, person and region), indexes are sets. Every key of one
write group shares a hash tag (``hh:{H123}``), so in Redis Cluster the group
lands on one slot and its MULTI/EXEC is atomic there; all groups of a batch go
out in one pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from engine.store import WriteGroup


class RedisStore:
    def __init__(self, client: redis.Redis, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix  # lets tests and tenants share a server without colliding

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> RedisStore:
        return cls(redis.Redis.from_url(url), prefix)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = self.client.mget([self.prefix + k for k in keys])
        return list(values)  # type: ignore[arg-type]

    def write(self, groups: Sequence[WriteGroup]) -> None:
        if not groups:
            return
        pipe = self.client.pipeline(transaction=False)
        for group in groups:
            pipe.execute_command("MULTI")
            for key, value in group.values.items():
                if value is None:
                    pipe.delete(self.prefix + key)
                else:
                    pipe.set(self.prefix + key, value)
            for index, member in group.index_add:
                pipe.sadd(self.prefix + index, member)
            for index, member in group.index_remove:
                pipe.srem(self.prefix + index, member)
            pipe.execute_command("EXEC")
        pipe.execute()

    def index_members(self, index: str) -> list[str]:
        members = self.client.smembers(self.prefix + index)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)  # type: ignore[union-attr]

    def memory_usage(self, key: str) -> int | None:
        usage = self.client.memory_usage(self.prefix + key, samples=0)
        return int(usage) if usage is not None else None  # type: ignore[arg-type]
