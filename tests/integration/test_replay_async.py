"""The Redis replay cache's async path (its own pipelined asyncio client, replay._RespClient) against a real Redis: atomic set-if-absent shared
with the sync path, fail closed while Redis is down, recovery without a new cache object."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from attest import DependencyUnavailable, VerifyContext
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
        assert len(cache._async) == 1  # answered by an asyncio client, not by the sync one in a thread
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


def test_the_database_of_the_url_is_used(redis_server: RedisServer) -> None:
    """The asyncio client selects the URL's database, as the sync client (redis-py) does."""
    url = redis_server.url[:-1] + "3"
    cache = RedisReplayCache(url, timeout=1)

    async def run() -> bool:
        try:
            return await cache.check_and_store_async("https://iss", "j-db3", 4_000_000_000)
        finally:
            await cache.aclose()

    assert asyncio.run(run()) is True
    assert cache.check_and_store("https://iss", "j-db3", 4_000_000_000) is False  # the sync client, database 3
    other = RedisReplayCache(redis_server.url, timeout=1)  # database 0 has no such entry
    assert other.check_and_store("https://iss", "j-db3", 4_000_000_000) is True
    cache.close()
    other.close()


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


def test_dpop_proofs_are_single_use_through_redis(redis_server: RedisServer) -> None:
    """Issue 10: a proof's jti goes through the same Redis cache as token jtis, in a namespace of its own,
    on the sync and the async path alike; the access token itself is not single-use."""
    from attest import verify, verify_async

    from ..support.helseid import PATIENT, URL, make_at, make_proof
    from ..support.tokens import NOW, trust_store

    cache = RedisReplayCache(redis_server.url, timeout=1)
    token = make_at()
    proofs = [make_proof(token) for _ in range(3)]

    def ctx(proof: str) -> VerifyContext:
        return VerifyContext(now=NOW, dpop_proof=proof, http_method="GET", http_url=URL, patient_id=PATIENT,
                             authorization_scheme="DPoP")

    assert verify(token, trust_store(), "helseid-at-1.0", ctx(proofs[0]), replay=cache).permitted
    assert verify(token, trust_store(), "helseid-at-1.0", ctx(proofs[0]), replay=cache).codes == ["dpop_replayed"]

    async def run() -> list[list[str]]:
        try:
            out = []
            for p in (proofs[0], proofs[1], proofs[1], proofs[2]):
                d = await verify_async(token, trust_store(), "helseid-at-1.0", ctx(p), replay=cache)
                out.append(d.codes)
            return out
        finally:
            await cache.aclose()

    assert asyncio.run(run()) == [["dpop_replayed"], [], ["dpop_replayed"], []]
    # a self-signed token's (iss, jti) never collides with the proof namespace
    assert cache.check_and_store("https://helseid-sts.test.example", proofs[2], 4_000_000_000) is True
    cache.close()
