"""The replay cache's asyncio Redis client (replay._RespClient) against a stand-in server speaking RESP: one
round trip per check, pipelined; AUTH and SELECT from the URL; replies split anywhere; fail closed (503) on an
error reply, a silent server or a closed connection; a new connection after one broke. The real Redis is in
tests/integration/test_replay_async.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from attest import DependencyUnavailable
from attest.replay import RedisReplayCache, _RespClient, _RespProtocol


class FakeRedis:
    """Answers ``SET … NX …`` as Redis does (``+OK`` when new, ``$-1`` when present), ``+OK`` to AUTH and
    SELECT; ``mode`` changes that: ``silent`` never answers, ``error`` answers an error, ``close`` hangs up."""

    def __init__(self) -> None:
        self.keys: set[bytes] = set()
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self.mode = "ok"
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                n = int(line[1:])
                parts = []
                for _ in range(n):
                    size = int((await reader.readline())[1:])
                    parts.append((await reader.readexactly(size + 2))[:-2])
                self.commands.append(parts)
                if self.mode == "silent":
                    continue
                if self.mode == "close":
                    writer.close()
                    return
                if self.mode == "error":
                    writer.write(b"-OOM command not allowed when used memory > 'maxmemory'\r\n")
                elif parts[0] == b"SET":
                    new = parts[1] not in self.keys
                    self.keys.add(parts[1])
                    reply = b"+OK\r\n" if new else b"$-1\r\n"
                    # split the reply across writes: the client must put it back together
                    for i in range(len(reply)):
                        writer.write(reply[i:i + 1])
                        await writer.drain()
                    continue
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in self.writers:
            w.close()
            with contextlib.suppress(ConnectionError):
                await w.wait_closed()
        self.writers.clear()


def run(scenario: Callable[[FakeRedis], Any]) -> Any:
    async def main() -> Any:
        fake = FakeRedis()
        port = await fake.start()
        fake.port = port  # type: ignore[attr-defined]
        try:
            return await scenario(fake)
        finally:
            await fake.stop()

    return asyncio.run(main())


def test_one_pipelined_round_trip_per_check_on_one_connection() -> None:
    async def scenario(fake: FakeRedis) -> list[bool]:
        cache = RedisReplayCache(f"redis://127.0.0.1:{fake.port}/0", timeout=2)  # type: ignore[attr-defined]
        out = list(await asyncio.gather(*(cache.check_and_store_async("https://iss", f"j{i % 10}", 2_000_000_000)
                                          for i in range(30))))
        await cache.aclose()
        assert fake.connections == 1 and len(fake.commands) == 30
        assert all(c[0] == b"SET" and c[2:] == [b"1", b"NX", b"EXAT", b"2000000000"] for c in fake.commands)
        return out

    out = run(scenario)
    assert out == [True] * 10 + [False] * 20


def test_auth_and_database_come_from_the_url() -> None:
    async def scenario(fake: FakeRedis) -> None:
        url = f"redis://svc:p%40ss@127.0.0.1:{fake.port}/3"  # type: ignore[attr-defined]
        cache = RedisReplayCache(url, timeout=2)
        assert await cache.check_and_store_async("https://iss", "j", 2_000_000_000) is True
        await cache.aclose()
        assert fake.commands[:2] == [[b"AUTH", b"svc", b"p@ss"], [b"SELECT", b"3"]]

    run(scenario)


@pytest.mark.parametrize("url", ["rediss://h:6379/0", "unix:///run/redis.sock", "redis://h:6379/0?protocol=3",
                                 "redis://h:port/0", "redis:///0"])
def test_urls_it_does_not_take_go_to_redis_py(url: str) -> None:
    assert _RespClient.from_url(url, 1.0) is None


@pytest.mark.parametrize("mode", ["silent", "error", "close"])
def test_a_server_that_does_not_answer_properly_is_a_dependency_failure_and_then_recovers(mode: str) -> None:
    async def scenario(fake: FakeRedis) -> None:
        cache = RedisReplayCache(f"redis://127.0.0.1:{fake.port}/0", timeout=0.3)  # type: ignore[attr-defined]
        assert await cache.check_and_store_async("https://iss", "before", 2_000_000_000) is True
        fake.mode = mode
        with pytest.raises(DependencyUnavailable):
            await asyncio.wait_for(cache.check_and_store_async("https://iss", "during", 2_000_000_000), 5)
        fake.mode = "ok"
        assert await cache.check_and_store_async("https://iss", "after", 2_000_000_000) is True
        await cache.aclose()

    run(scenario)


def test_nothing_listening_is_a_dependency_failure() -> None:
    async def scenario(fake: FakeRedis) -> None:
        port = fake.port  # type: ignore[attr-defined]
        await fake.stop()
        cache = RedisReplayCache(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        with pytest.raises(DependencyUnavailable):
            await cache.check_and_store_async("https://iss", "j", 2_000_000_000)

    run(scenario)


def test_replies_are_matched_in_order_and_garbage_fails_every_waiting_command() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        proto = _RespProtocol()
        futures = [loop.create_future() for _ in range(4)]
        for f in futures:
            proto.waiting.append(f)
        for byte in b"+OK\r\n$-1\r\n$3\r\nabc\r\n":
            proto.data_received(bytes([byte]))
        assert [f.result() for f in futures[:3]] == [b"OK", None, b"abc"]
        proto.data_received(b"?what\r\n")  # not a reply type Redis sends
        assert isinstance(futures[3].exception(), ConnectionError) and proto.lost

    asyncio.run(scenario())
