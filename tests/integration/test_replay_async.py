"""The Redis replay cache's async path (redis.asyncio) against a real Redis: atomic set-if-absent shared
with the sync path, fail closed while Redis is down, recovery without a new cache object."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from attest import DependencyUnavailable
from attest.replay import RedisReplayCache

from ..support.servers import RedisServer, need

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    need("redis")
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def test_async_and_sync_share_one_record(redis_server: RedisServer) -> None:
    cache = RedisReplayCache(redis_server.url, timeout=1)

    async def run() -> list[bool]:
        first = await cache.check_and_store_async("https://iss", "j-async", 4_000_000_000)
        second = await cache.check_and_store_async("https://iss", "j-async", 4_000_000_000)
        assert len(cache._async) == 1  # answered by a redis.asyncio client, not by the sync one in a thread
        await cache.aclose()
        return [first, second]

    async def other() -> bool:
        try:
            return await cache.check_and_store_async("https://iss", "j-other", 4_000_000_000)
        finally:
            await cache.aclose()

    assert asyncio.run(run()) == [True, False]
    assert cache.check_and_store("https://iss", "j-async", 4_000_000_000) is False  # the sync path agrees
    assert asyncio.run(other()) is True  # a second loop gets its own client
    cache.close()


def test_concurrent_async_checks_admit_one(redis_server: RedisServer) -> None:
    cache = RedisReplayCache(redis_server.url, timeout=1)

    async def run() -> list[bool]:
        try:
            return list(await asyncio.gather(*(cache.check_and_store_async("https://iss", "j-race", 4_000_000_000)
                                               for _ in range(20))))
        finally:
            await cache.aclose()

    assert sorted(asyncio.run(run())) == [False] * 19 + [True]
    cache.close()


def test_down_is_dependency_unavailable_and_recovers(redis_server: RedisServer) -> None:
    cache = RedisReplayCache(redis_server.url, timeout=1)

    async def one(jti: str) -> bool:
        return await cache.check_and_store_async("https://iss", jti, 4_000_000_000)

    async def scenario() -> None:
        assert await one("j-before") is True
        redis_server.stop()
        with pytest.raises(DependencyUnavailable):
            await one("j-down")
        redis_server.start()
        assert await one("j-after") is True  # the same cache object, the same loop
        await cache.aclose()

    asyncio.run(scenario())
    cache.close()


def test_a_restart_between_calls_is_not_an_outage(redis_server: RedisServer) -> None:
    """The pooled connection dies with the Redis restart; the first call after it gets a fresh one."""
    cache = RedisReplayCache(redis_server.url, timeout=1)

    async def scenario() -> None:
        assert await cache.check_and_store_async("https://iss", "j-r1", 4_000_000_000) is True
        redis_server.stop()
        redis_server.start()
        assert await cache.check_and_store_async("https://iss", "j-r2", 4_000_000_000) is True
        await cache.aclose()

    asyncio.run(scenario())
    cache.close()
