"""Pure ASGI middleware: the request body limit (413) and per-request bookkeeping (request id, access log
without query strings, HTTP metrics)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from .metrics import Metrics

log = logging.getLogger("attest.service.access")

#: the methods the metrics and the access log name; any other is "other" (a client can send any token as a
#: method: unbounded label values, or text shaped like an identity number, must not reach /metrics or logs)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

Scope = dict[str, Any]


async def _send_problem(send: Any, status: int, slug: str, title: str, detail: str) -> None:
    body = json.dumps({"type": f"urn:attest:problem:{slug}", "title": title, "status": status,
                       "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Reads the request body (at most ``max_bytes``, within ``read_timeout`` seconds for the whole body)
    before the app sees it: a declared or actual body over the limit gets 413 without being read further, a
    body that does not arrive in time 408 (a client trickling a byte at a time must not hold a worker and a
    connection for ever). The request line and headers are read by the server before this runs: their
    deadline is the reverse proxy's (``client_header_timeout`` in deploy/nginx.conf); production runs
    behind it (docs/service.md)."""

    def __init__(self, app: Any, max_bytes: int, read_timeout: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_problem(send, 400, "bad-request", "Bad Request", "invalid Content-Length")
                    return
        too_large = f"the request body is over the limit of {self.max_bytes} bytes"
        if declared is not None and declared > self.max_bytes:
            await _send_problem(send, 413, "payload-too-large", "Content Too Large", too_large)
            return
        chunks: list[bytes] = []
        total = 0
        try:
            async with asyncio.timeout(self.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body = message.get("body", b"")
                    total += len(body)
                    if total > self.max_bytes:
                        await _send_problem(send, 413, "payload-too-large", "Content Too Large", too_large)
                        return
                    chunks.append(body)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _send_problem(send, 408, "request-timeout", "Request Timeout",
                                f"the request body did not arrive within {self.read_timeout:g} s")
            return
        buffered = b"".join(chunks)
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": buffered, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


class RequestContextMiddleware:
    """Request id (``X-Request-ID``, echoed or generated), one structured access-log line per request (path
    without query string: query strings can name a patient; fields a route put in ``request.state.log`` are
    added, so that a verification is one line), and the request counter."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = None
        for name, value in scope.get("headers") or []:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")[:64]
                if candidate.isprintable() and candidate.isascii():
                    rid = candidate
        rid = rid or os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = rid
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            label = method if method in HTTP_METHODS else "other"  # a label from a fixed set, never client text
            self.metrics.requests.labels(label, template, str(status)).inc()
            extra = {"request_id": rid, "method": label, "route": template, "status": status,
                     "ms": round((time.perf_counter() - start) * 1000, 2)}
            route_fields = scope["state"].get("log")  # what the route adds (the verify route: its decision)
            if isinstance(route_fields, dict):
                extra.update(route_fields)
            if log.isEnabledFor(logging.INFO):
                # log.info without looking up the caller's source line (not logged), once per request
                log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None, extra=extra))
