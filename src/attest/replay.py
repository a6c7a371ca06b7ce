"""Replay protection: a ``jti`` is accepted once per issuer until the token expires.

The verifier records ``(iss, jti)`` only after every other check passed, so an invalid token can never
burn a valid token's ``jti`` (JWT_ATTACKS.md I1). Implementations must make the check-and-store atomic.
A cache that cannot answer raises :class:`~attest.errors.DependencyUnavailable`: the caller fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ReplayCache(Protocol):
    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        """Atomically record ``(iss, jti)`` until ``expires_at`` (unix seconds). True if it was new, False if
        it was already recorded and not yet expired."""
        ...

    def ping(self) -> bool:
        """True when the cache can answer (for readiness checks)."""
        ...


# A cache that is a network service may also offer ``async def check_and_store_async(iss, jti, expires_at)``
# with the same meaning; :func:`attest.verify_async` awaits it instead of holding a thread.


class MemoryReplayCache:
    """In-process replay cache (one process only; use the Redis cache for several instances).

    Entries expire at ``expires_at``; ``max_entries`` bounds memory (the oldest-expiring entries are evicted
    first, and only once they have expired: when the cache is full of live entries, new ones are refused
    rather than forgetting a live ``jti``).
    """

    def __init__(self, max_entries: int = 1_000_000, clock: Callable[[], float] | None = None) -> None:
        self._entries: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, tuple[str, str]]] = []
        self._lock = threading.Lock()
        self._max = max_entries
        self._clock: Callable[[], float] = clock if callable(clock) else time.time

    def _now(self) -> float:
        return float(self._clock())

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            exp, key = heapq.heappop(self._heap)
            if self._entries.get(key) == exp:
                del self._entries[key]

    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        key = (iss, jti)
        now = self._now()
        with self._lock:
            self._purge(now)
            current = self._entries.get(key)
            if current is not None and current > now:
                return False
            if len(self._entries) >= self._max:
                from .errors import DependencyUnavailable
                raise DependencyUnavailable("the in-memory replay cache is full of live entries")
            self._entries[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True

    async def check_and_store_async(self, iss: str, jti: str, expires_at: int) -> bool:
        """:meth:`check_and_store` for an event loop: in memory, so answered at once (no thread)."""
        return self.check_and_store(iss, jti, expires_at)

    def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._now())
            return len(self._entries)

    def release(self, iss: str, jti: str) -> None:
        """Forget ``(iss, jti)`` (the service calls this when it could not record the decision, so the
        caller may retry the same token once the audit store is back)."""
        with self._lock:
            self._entries.pop((iss, jti), None)


class RedisReplayCache:
    """Replay cache shared by several service instances: Redis ``SET key 1 NX EXAT exp`` (atomic
    set-if-absent with an absolute expiry). The key is a SHA-256 of ``(iss, jti)``, so nothing from a
    token is used verbatim as a Redis key. Any Redis failure raises
    :class:`~attest.errors.DependencyUnavailable` (fail closed).

    Redis must not evict these keys (``maxmemory-policy noeviction``) and should persist them if a Redis
    restart must not forget live ``jti``s (AOF); see docs/service.md.
    """

    def __init__(self, url: str, *, prefix: str = "attest:jti:", timeout: float = 2.0,
                 client: object = None) -> None:
        #: a client given by the caller (tests) has no asyncio twin: its calls go to a worker thread
        self._injected = client is not None
        if client is None:
            try:
                import redis
            except ImportError:  # pragma: no cover - depends on the installation
                from .errors import ConfigurationError
                raise ConfigurationError("REDIS_URL is set but the redis package is not installed "
                                         "(pip install 'attest[redis]')") from None
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                          health_check_interval=30)
        self._client: Any = client
        self._prefix = prefix
        self._url = url
        self._timeout = timeout
        #: asyncio clients, one per event loop (their connections belong to the loop that made them)
        self._async: dict[Any, Any] = {}
        self._async_lock = threading.Lock()

    def _key(self, iss: str, jti: str) -> str:
        import hashlib

        digest = hashlib.sha256(iss.encode("utf-8", "surrogatepass") + b"\x00"
                                + jti.encode("utf-8", "surrogatepass")).hexdigest()
        return self._prefix + digest

    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        from .errors import DependencyUnavailable

        try:
            result = self._client.set(self._key(iss, jti), b"1", nx=True, exat=max(1, int(expires_at)))
        except Exception as exc:
            raise DependencyUnavailable(f"replay cache unavailable ({type(exc).__name__})") from None
        return bool(result)

    async def check_and_store_async(self, iss: str, jti: str, expires_at: int) -> bool:
        """:meth:`check_and_store` on an event loop (redis.asyncio): no thread is held while Redis answers."""
        from .errors import DependencyUnavailable

        try:
            client = self._async_client()
            if client is None:  # a client given to the constructor (tests): its sync call, in a thread
                return await asyncio.to_thread(self.check_and_store, iss, jti, expires_at)
            import redis.exceptions

            key, exat = self._key(iss, jti), max(1, int(expires_at))
            try:
                result = await client.set(key, b"1", nx=True, exat=exat)
            except (OSError, redis.exceptions.ConnectionError):
                # a pooled connection that died with a Redis restart fails on first use: one retry on a
                # fresh connection (if the first SET did land, the retry answers "already used": a deny,
                # never a second permit)
                await client.connection_pool.disconnect()
                result = await client.set(key, b"1", nx=True, exat=exat)
        except DependencyUnavailable:
            raise
        except Exception as exc:
            raise DependencyUnavailable(f"replay cache unavailable ({type(exc).__name__})") from None
        return bool(result)

    async def aclose(self) -> None:
        """Close this event loop's asyncio client (call it on the loop before the loop ends)."""
        loop = asyncio.get_running_loop()
        with self._async_lock:
            client = self._async.pop(loop, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    def _async_client(self) -> Any:
        if self._injected or not self._url:
            return None
        loop = asyncio.get_running_loop()
        with self._async_lock:
            client = self._async.get(loop)
            if client is None:
                import redis.asyncio

                # loops that are gone (a test client's) are forgotten; their connections went with them
                self._async = {lp: c for lp, c in self._async.items() if not lp.is_closed()}
                client = redis.asyncio.Redis.from_url(self._url, socket_timeout=self._timeout,
                                                      socket_connect_timeout=self._timeout,
                                                      health_check_interval=30)
                self._async[loop] = client
        return client

    def release(self, iss: str, jti: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the jti then stays burnt until exp
            self._client.delete(self._key(iss, jti))

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        with self._async_lock:
            clients, self._async = self._async, {}
        for loop, client in clients.items():
            with contextlib.suppress(Exception):  # best effort: the loop may be stopping
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop)
