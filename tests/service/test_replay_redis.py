"""The Redis replay cache's contract with a stand-in client (the real server is in tests/integration)."""

from __future__ import annotations

from typing import Any

import pytest

from attest import DependencyUnavailable
from attest.replay import MemoryReplayCache, RedisReplayCache


class _FakeRedis:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.keys: dict[str, int] = {}
        self.down = False

    def set(self, key: str, value: bytes, nx: bool, exat: int) -> bool | None:
        if self.down:
            raise ConnectionError("down")
        self.calls.append((key, (value, nx, exat)))
        if key in self.keys:
            return None
        self.keys[key] = exat
        return True

    def delete(self, key: str) -> int:
        return 1 if self.keys.pop(key, None) is not None else 0

    def ping(self) -> bool:
        if self.down:
            raise ConnectionError("down")
        return True


def test_set_if_absent_with_absolute_expiry() -> None:
    fake = _FakeRedis()
    cache = RedisReplayCache("redis://unused", client=fake)
    assert cache.check_and_store("https://iss", "jti-1", 1_900_000_000) is True
    assert cache.check_and_store("https://iss", "jti-1", 1_900_000_000) is False
    assert cache.check_and_store("https://other", "jti-1", 1_900_000_000) is True
    key, (value, nx, exat) = fake.calls[0]
    assert nx is True and exat == 1_900_000_000 and value == b"1"
    assert key.startswith("attest:jti:") and "jti-1" not in key and len(key) == len("attest:jti:") + 64
    cache.release("https://iss", "jti-1")
    assert cache.check_and_store("https://iss", "jti-1", 1_900_000_000) is True


def test_down_means_dependency_unavailable() -> None:
    fake = _FakeRedis()
    fake.down = True
    cache = RedisReplayCache("redis://unused", client=fake)
    with pytest.raises(DependencyUnavailable):
        cache.check_and_store("i", "j", 1)
    assert cache.ping() is False


def test_memory_cache_release() -> None:
    cache = MemoryReplayCache()
    assert cache.check_and_store("i", "j", 2_000_000_000)
    assert not cache.check_and_store("i", "j", 2_000_000_000)
    cache.release("i", "j")
    assert cache.check_and_store("i", "j", 2_000_000_000)
