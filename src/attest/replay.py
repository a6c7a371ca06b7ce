"""Replay protection: a ``jti`` is accepted once per issuer until the token expires.

The verifier records ``(iss, jti)`` only after every other check passed, so an invalid token can never
burn a valid token's ``jti`` (JWT_ATTACKS.md I1). Implementations must make the check-and-store atomic.
A cache that cannot answer raises :class:`~attest.errors.DependencyUnavailable`: the caller fails closed.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class ReplayCache(Protocol):
    def check_and_store(self, iss: str, jti: str, expires_at: int) -> bool:
        """Atomically record ``(iss, jti)`` until ``expires_at`` (unix seconds). True if it was new, False if
        it was already recorded and not yet expired."""
        ...

    def ping(self) -> bool:
        """True when the cache can answer (for readiness checks)."""
        ...


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

    def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._now())
            return len(self._entries)
