"""Replay protection: a ``jti`` is accepted once per issuer until the token expires.

The verifier records ``(iss, jti)`` only after every other check passed, so an invalid token can never
burn a valid token's ``jti`` (JWT_ATTACKS.md I1). Implementations must make the check-and-store atomic.
A cache that cannot answer raises :class:`~attest.errors.DependencyUnavailable`: the caller fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit


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
        """:meth:`check_and_store` on an event loop: no thread is held while Redis answers, one round trip
        (``SET key 1 NX EXAT exp``), pipelined with the other requests' on one connection per loop
        (:class:`_RespClient`; redis.asyncio for URLs it does not take)."""
        from .errors import DependencyUnavailable

        try:
            client = self._async_client()
            if client is None:  # a client given to the constructor (tests): its sync call, in a thread
                return await asyncio.to_thread(self.check_and_store, iss, jti, expires_at)
            key, exat = self._key(iss, jti), max(1, int(expires_at))
            if isinstance(client, _RespClient):
                return await client.set_nx_exat(key.encode(), exat)
            import redis.exceptions

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
                # loops that are gone (a test client's) are forgotten; their connections went with them
                self._async = {lp: c for lp, c in self._async.items() if not lp.is_closed()}
                client = _RespClient.from_url(self._url, self._timeout)
                if client is None:  # a URL the small client does not take (TLS, a socket path, options)
                    import redis.asyncio

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


class _RedisReplyError(Exception):
    """Redis answered a command with an error reply."""


class _RespProtocol(asyncio.Protocol):
    """One connection to Redis speaking RESP2: commands written as they come (those of one event-loop turn
    in one write), replies matched to them in order (Redis answers a connection's commands in order)."""

    def __init__(self) -> None:
        self.transport: Any = None  # asyncio's or uvloop's (not an asyncio.Transport subclass)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.buffer = bytearray()
        self.outgoing: list[bytes] = []
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, command: bytes, future: asyncio.Future[Any]) -> None:
        if not self.outgoing:
            future.get_loop().call_soon(self._flush)
        self.outgoing.append(command)
        self.waiting.append(future)

    def _flush(self) -> None:
        data, self.outgoing = b"".join(self.outgoing), []
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        buf = self.buffer
        pos = 0
        try:
            while True:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                kind, line = buf[pos], bytes(buf[pos + 1:end])
                value: Any
                if kind == 0x2B:  # +OK
                    value, pos = line, end + 2
                elif kind == 0x24:  # $len bulk string; $-1 the null reply (SET NX: the key was there)
                    n = int(line)
                    if n < 0:
                        value, pos = None, end + 2
                    elif len(buf) < end + 4 + n:
                        break
                    else:
                        value, pos = bytes(buf[end + 2:end + 2 + n]), end + 4 + n
                elif kind == 0x3A:  # :integer
                    value, pos = int(line), end + 2
                elif kind == 0x2D:  # -ERR ...
                    value, pos = _RedisReplyError(line.decode("utf-8", "replace")[:200]), end + 2
                else:
                    raise ValueError("unexpected reply type")
                if not self.waiting:
                    raise ValueError("a reply nobody asked for")
                future = self.waiting.popleft()
                if not future.done():
                    if isinstance(value, _RedisReplyError):
                        future.set_exception(value)
                    else:
                        future.set_result(value)
        except ValueError:  # the stream cannot be trusted any more: every waiting command fails
            self.abort(ConnectionError("unexpected data from Redis"))
            return
        del buf[:pos]

    def abort(self, exc: BaseException) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()
        self.connection_lost(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        # a timeout is not retried on another connection (the caller waited long enough); a broken
        # connection is (once, when it had worked before)
        error = exc if isinstance(exc, ConnectionError | TimeoutError) else ConnectionError(
            "the Redis connection was closed")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class _RespClient:
    """The replay check's Redis client on an event loop: one pipelined connection (``redis://`` URLs with
    an optional user, password and database), connected on first use and again after it broke. A command
    that gets no answer within ``timeout`` seconds, or whose connection breaks, raises (the caller answers
    503); a command that failed on a connection that had worked before (Redis restarted since) is tried once
    more on a new connection: if the first ``SET NX`` did land, the retry answers "already used" (a deny,
    never a second permit). About a tenth of redis.asyncio's CPU time per command."""

    def __init__(self, host: str, port: int, db: int, username: str | None, password: str | None,
                 timeout: float) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout = timeout
        self._conn: _RespProtocol | None = None
        self._connecting: asyncio.Future[_RespProtocol] | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float) -> _RespClient | None:
        try:
            parts = urlsplit(url)
            port = parts.port or 6379
            db = int(parts.path[1:] or "0")
        except ValueError:
            return None
        if parts.scheme != "redis" or parts.query or parts.fragment or not parts.hostname:
            return None
        return cls(parts.hostname, port, db, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password is not None else None, timeout)

    async def set_nx_exat(self, key: bytes, exat: int) -> bool:
        """``SET key 1 NX EXAT exat``: True when the key was set (it was absent)."""
        command = _command(b"SET", key, b"1", b"NX", b"EXAT", b"%d" % exat)
        conn, fresh = await self._connection()
        try:
            reply = await self._call(conn, command)
        except ConnectionError:
            if fresh:
                raise
            conn, _ = await self._connection()
            reply = await self._call(conn, command)
        return reply is not None

    async def _call(self, conn: _RespProtocol, command: bytes) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        conn.send(command, future)
        timer = loop.call_later(self.timeout, self._expire, conn, future)
        try:
            return await future
        finally:
            timer.cancel()

    @staticmethod
    def _expire(conn: _RespProtocol, future: asyncio.Future[Any]) -> None:
        if not future.done():
            # Redis did not answer in time: the connection is given up (its later replies would be
            # matched to the wrong commands), and every command waiting on it fails
            conn.abort(TimeoutError("Redis did not answer in time"))

    async def _connection(self) -> tuple[_RespProtocol, bool]:
        """The open connection, or a new one (``fresh``); concurrent callers share one connection attempt."""
        conn = self._conn
        if conn is not None and not conn.lost:
            return conn, False
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            conn = await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return conn, True

    async def _connect(self) -> _RespProtocol:
        loop = asyncio.get_running_loop()
        conn: _RespProtocol | None = None
        try:
            async with asyncio.timeout(self.timeout):
                transport, conn = await loop.create_connection(_RespProtocol, self.host, self.port)
                sock = transport.get_extra_info("socket")
                if sock is not None:  # a peer or a middlebox that went away silently is noticed
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if self.password is not None:
                    auth = ((b"AUTH", self.username.encode(), self.password.encode()) if self.username
                            else (b"AUTH", self.password.encode()))
                    await self._call(conn, _command(*auth))
                if self.db:
                    await self._call(conn, _command(b"SELECT", b"%d" % self.db))
        except (TimeoutError, _RedisReplyError) as exc:
            if conn is not None:
                conn.abort(ConnectionError("connection set-up failed"))
            if isinstance(exc, TimeoutError):
                raise ConnectionError("no connection to Redis in time") from None
            raise ConnectionError(f"Redis refused the connection set-up: {exc}") from None
        self._conn = conn
        return conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()
