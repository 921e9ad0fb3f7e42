"""The API key cache: a key in use read again in the background, one read at a time, before it expires (so under
load requests do not go to the database for it every `KEY_CACHE_SECONDS`), and a revoked key refused within
`KEY_CACHE_SECONDS` all the same."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.api.context import KEY_CACHE_SECONDS, KEY_REFRESH_SECONDS, KeyCache
from services.api.domain.keys import ApiKey, hash_secret

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = ApiKey("k1", "tenant", hash_secret("s"), "backend", NOW, "acme", ("usage:write",))


@dataclass
class SlowStore:
    records: dict[str, ApiKey] = field(default_factory=lambda: {"k1": KEY})
    reads: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def key(self, key_id: str) -> ApiKey | None:
        self.reads += 1
        await self.gate.wait()
        return self.records.get(key_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_request_that_finds_no_fresh_record_reads_it_itself() -> None:
    store, clock = SlowStore(), Clock()
    store.gate.set()
    cache = KeyCache(store, clock=clock)  # type: ignore[arg-type]

    assert cache.cached("k1") is None  # never read: the request goes to `get`
    assert await cache.get("k1") == KEY and store.reads == 1
    assert await cache.get("k1") == KEY and store.reads == 1  # fresh: no read
    clock.now += KEY_CACHE_SECONDS
    assert await cache.get("k1") == KEY and store.reads == 2  # expired: read again, by the request


async def test_a_key_in_use_is_read_again_in_the_background_before_it_expires() -> None:
    store, clock = SlowStore(), Clock()
    store.gate.set()
    cache = KeyCache(store, clock=clock)  # type: ignore[arg-type]
    await cache.get("k1")

    clock.now += KEY_REFRESH_SECONDS / 2
    assert cache.cached("k1") == KEY and store.reads == 1  # young: no read
    clock.now += KEY_REFRESH_SECONDS / 2
    assert cache.cached("k1") == KEY  # old enough: answered at once, and read again behind
    assert cache.cached("k1") == KEY  # while that read runs, no second one
    await asyncio.sleep(0.01)
    assert store.reads == 2

    clock.now += KEY_CACHE_SECONDS - 0.01  # measured from the refresh: still fresh
    assert cache.cached("k1") == KEY


async def test_a_revoked_key_is_refused_within_the_cache_time() -> None:
    store, clock = SlowStore(), Clock()
    store.gate.set()
    cache = KeyCache(store, clock=clock)  # type: ignore[arg-type]
    await cache.get("k1")
    store.records["k1"] = ApiKey(**{**KEY.__dict__, "revoked_at": NOW})

    clock.now += KEY_REFRESH_SECONDS  # the background read sees the revocation
    cache.cached("k1")
    await asyncio.sleep(0.01)
    assert (await cache.get("k1")).revoked_at == NOW  # type: ignore[union-attr]

    store.records.clear()  # a deleted key: nothing cached once its record has aged out, and no fast answer at all
    clock.now += KEY_CACHE_SECONDS
    assert cache.cached("k1") is None
    assert await cache.get("k1") is None
    assert cache.cached("k1") is None


async def test_a_failed_background_read_leaves_the_record_to_expire_and_the_next_request_reads_again() -> None:
    class Down(SlowStore):
        async def key(self, key_id: str) -> ApiKey | None:
            self.reads += 1
            if self.reads > 1:
                raise ConnectionError("mongodb down")
            return KEY

    store, clock = Down(), Clock()
    cache = KeyCache(store, clock=clock)  # type: ignore[arg-type]
    await cache.get("k1")
    clock.now += KEY_REFRESH_SECONDS
    assert cache.cached("k1") == KEY
    await asyncio.sleep(0.01)  # the refresh failed (logged), nothing raised here
    assert cache.cached("k1") == KEY  # still fresh: answered, and read again behind
    await asyncio.sleep(0.01)
    assert store.reads == 3
    clock.now += KEY_CACHE_SECONDS
    assert cache.cached("k1") is None
