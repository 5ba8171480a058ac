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

from engine.store import StoreConflict, WriteGroup, hash_tag

# A conditional group in one atomic step: KEYS are the expected keys, then one
# key per write; ARGV[1] is how many keys are expected, then each expected
# value ("" for absent, "=" and the value otherwise), then the writes (S: set
# to the next argument, D: delete, A/R: add/remove the next argument to/from a set).
CHECK_AND_WRITE = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  local want = ARGV[1 + i]
  if want == '' then
    if v then return 0 end
  elseif v ~= string.sub(want, 2) then
    return 0
  end
end
local a = n + 2
local k = n + 1
while a <= #ARGV do
  local op = ARGV[a]
  if op == 'S' then redis.call('SET', KEYS[k], ARGV[a + 1]); a = a + 2
  elseif op == 'D' then redis.call('DEL', KEYS[k]); a = a + 1
  elseif op == 'A' then redis.call('SADD', KEYS[k], ARGV[a + 1]); a = a + 2
  else redis.call('SREM', KEYS[k], ARGV[a + 1]); a = a + 2
  end
  k = k + 1
end
return 1
"""


def _conditional_call(group: WriteGroup, prefix: str) -> tuple[list[str], list[bytes | str]]:
    keys = [prefix + k for k in group.expect]
    args: list[bytes | str] = [str(len(keys))]
    args += [b"" if v is None else b"=" + v for v in group.expect.values()]
    for key, value in group.values.items():
        keys.append(prefix + key)
        args += ["D"] if value is None else ["S", value]
    for index, member in group.index_add:
        keys.append(prefix + index)
        args += ["A", member]
    for index, member in group.index_remove:
        keys.append(prefix + index)
        args += ["R", member]
    return keys, args


def _write_group(pipe: redis.client.Pipeline, group: WriteGroup, prefix: str) -> None:
    for key, value in group.values.items():
        if value is None:
            pipe.delete(prefix + key)
        else:
            pipe.set(prefix + key, value)
    for index, member in group.index_add:
        pipe.sadd(prefix + index, member)
    for index, member in group.index_remove:
        pipe.srem(prefix + index, member)


class RedisStore:
    """``atomic`` (one server, the default): a batch's whole write is one MULTI/EXEC,
    so a worker killed part way writes nothing and the engine needs no journal.
    A Redis Cluster cannot run a transaction across slots: there each group is
    its own MULTI/EXEC and the engine writes a journal first (engine/store.py).
    """

    def __init__(self, client: redis.Redis, prefix: str = "", atomic: bool = True) -> None:
        self.client = client
        self.prefix = prefix  # lets tests and tenants share a server without colliding
        self.atomic = atomic
        # Scripts survive NOSCRIPT: redis-py loads them again (e.g. after a restart).
        self._check_and_write = client.register_script(CHECK_AND_WRITE)

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
        pipe = self.client.pipeline(transaction=self.atomic)
        conditional: list[tuple[int, WriteGroup]] = []
        for group in groups:
            if group.expect:
                keys, args = _conditional_call(group, self.prefix)
                conditional.append((len(pipe.command_stack), group))
                self._check_and_write(keys=keys, args=args, client=pipe)
                continue
            if self.atomic:
                _write_group(pipe, group, self.prefix)
                continue
            pipe.execute_command("MULTI")
            _write_group(pipe, group, self.prefix)
            pipe.execute_command("EXEC")
        results = pipe.execute()
        lost = [g for position, g in conditional if not results[position]]
        if lost:
            raise StoreConflict([hash_tag(next(iter(g.expect))) for g in lost])

    def index_members(self, index: str) -> list[str]:
        members = self.client.smembers(self.prefix + index)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)  # type: ignore[union-attr]

    def memory_usage(self, key: str) -> int | None:
        usage = self.client.memory_usage(self.prefix + key, samples=0)
        return int(usage) if usage is not None else None  # type: ignore[arg-type]
