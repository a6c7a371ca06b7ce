"""Per-client rate limit (``ATTEST_RATE_LIMIT``, off by default): a token bucket in memory per process.

A client is its address as the ASGI server reports it: with ``attest serve`` that is the peer address, or
the first untrusted address of ``X-Forwarded-For`` when the peer is a proxy listed in
``FORWARDED_ALLOW_IPS`` (uvicorn's proxy-header handling). Each client may send ``limit`` requests in a
burst and then ``limit`` per ``period``; a request over the limit gets 429 (problem+json) with
``Retry-After``, before its body is read. Liveness, readiness and metrics are not limited.

The buckets live in the process: with N instances (or workers) behind a load balancer a client may get up
to N times the limit. It is a guard against one client flooding an instance, not a quota.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

_PERIODS = {"second": 1.0, "s": 1.0, "sec": 1.0, "minute": 60.0, "min": 60.0, "m": 60.0,
            "hour": 3600.0, "h": 3600.0}
_SPEC = re.compile(r"\s*([0-9]{1,9})\s*/\s*([0-9]{0,6})\s*([a-z]+)\s*", re.ASCII)
#: paths that are never limited (probes of the orchestrator and the metrics scraper)
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class RateLimit:
    """``limit`` requests per ``period`` seconds per client (burst: ``limit``)."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str | None, name: str = "ATTEST_RATE_LIMIT") -> RateLimit | None:
        """``"100/minute"``, ``"10/second"``, ``"5000/hour"``, ``"50/10s"``; empty, ``off`` or ``0`` = off."""
        if text is None or text.strip().lower() in ("", "off", "none", "0"):
            return None
        m = _SPEC.fullmatch(text.lower())
        if m is None or m.group(3) not in _PERIODS:
            raise ConfigurationError(f"{name} must look like 100/minute, 10/second, 5000/hour or 50/10s")
        limit = int(m.group(1))
        period = _PERIODS[m.group(3)] * (int(m.group(2)) if m.group(2) else 1)
        if limit < 1 or period <= 0:
            raise ConfigurationError(f"{name}: the number of requests and the period must be positive")
        return cls(limit, period)

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


class TokenBuckets:
    """One bucket per key, refilled continuously at ``limit / period`` tokens per second. At most
    ``max_keys`` buckets are kept (least recently used dropped first: a dropped key starts full again)."""

    def __init__(self, rate: RateLimit, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(rate.limit)
        self.per_second = rate.limit / rate.period
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until a token is available. Runs
        on the event loop with no await inside, so it needs no lock."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.per_second
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimitMiddleware:
    """Pure ASGI middleware: 429 problem+json with ``Retry-After`` (whole seconds, at least 1) for a client
    over its limit; ``on_limited`` is called for each refused request (metrics)."""

    def __init__(self, app: Any, rate: RateLimit, on_limited: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.rate = rate
        self.buckets = TokenBuckets(rate, clock=clock)
        self.on_limited = on_limited

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = str(client[0]) if client else "unknown"
        wait = self.buckets.take(key)
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        if self.on_limited is not None:
            self.on_limited()
        retry = str(max(1, math.ceil(wait)))
        body = json.dumps({"type": "urn:attest:problem:rate-limited", "title": "Too Many Requests",
                           "status": 429,
                           "detail": f"over the limit of {self.rate.limit} requests per {self.rate.period:g} s "
                                     "for this client; retry later"}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", retry.encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
