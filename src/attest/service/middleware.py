"""Pure ASGI middleware: the request body limit (413) and per-request bookkeeping (request id, access log
without query strings, HTTP metrics)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from fastapi import FastAPI
from starlette import types
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response

from ..identifiers import random_id
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
        rid = rid or random_id()
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


class DirectRoutes:
    """The hot routes (``POST /v1/verify``, ``/v1/authorize``) called straight from here, without FastAPI's
    routing: the exception middleware, the exit-stack middleware, matching the path against every route and
    the per-request handler that solves the endpoint's parameters cost about as much as the verification
    itself. Innermost of the app's middleware (inside the body limit, the request id and access log, the rate
    limit), so every other layer still runs.

    Only a route whose endpoint takes nothing but the ``Request`` is called directly (checked at start, from
    FastAPI's own analysis of the endpoint): it is the same function FastAPI would call, with the same
    argument. Its exceptions go to the app's exception handlers exactly as FastAPI's exception middleware
    hands them over (by the exception's class; one without a handler propagates to the server-error
    middleware, as before). Any other path or method, or a route with parameters, goes through FastAPI."""

    def __init__(self, app: Any, routes: Any, paths: tuple[str, ...], handlers: dict[Any, Any]) -> None:
        from fastapi.routing import APIRoute

        self.app = app
        self.handlers = {k: v for k, v in handlers.items() if k not in (Exception, 500)}
        self.table: dict[tuple[str, str], Any] = {}
        for route in routes:
            if not isinstance(route, APIRoute) or route.path not in paths:
                continue
            d = route.dependant
            if (d.request_param_name is None or d.path_params or d.query_params or d.header_params
                    or d.cookie_params or d.body_params or d.dependencies or route.dependencies
                    or d.websocket_param_name or d.http_connection_param_name or d.response_param_name
                    or d.background_tasks_param_name or d.security_scopes_param_name
                    or route.response_model is not None or not asyncio.iscoroutinefunction(route.endpoint)):
                continue  # parameters FastAPI would solve, a result it would serialise: left to FastAPI
            for method in route.methods or ():
                self.table.setdefault((method, route.path), route)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        route = self.table.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if route is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = next((self.handlers[cls] for cls in type(exc).__mro__ if cls in self.handlers), None)
            if handler is None:
                raise
            response = handler(request, exc)
            if asyncio.iscoroutine(response):
                response = await response
        if not isinstance(response, Response):  # the endpoints taken here answer Response objects
            raise TypeError(f"{route.path}: the endpoint did not return a Response")
        await response(scope, receive, send)


class HotEntry:
    """Where a hot route's request enters the app: straight into the app's own middleware (the outermost one
    added with ``add_middleware``, down to :class:`DirectRoutes`), below the layers FastAPI and Starlette put
    around every app — their entry (OpenTelemetry and scope set-up), ``ExceptionTelemetryMiddleware``,
    FastAPI's own body limit (not configured here: :class:`BodyLimitMiddleware` is the limit) and the
    server-error middleware — which cost ~20-70 µs per request and add nothing to these routes. An unexpected
    error still becomes the app's 500 answer: the entry is a server-error middleware of its own with the app's
    handler, as Starlette's.

    The middleware instances are the app's own (one rate limiter, one metrics registry): the entry only starts
    lower in the same chain, and the hot routes are those of its :class:`DirectRoutes`. The chain is looked at
    when the first request comes (Starlette builds it then); should it not have the expected shape (another
    FastAPI version, a middleware factory that is not a class), or OpenTelemetry be configured for FastAPI to
    report, or FastAPI's own body limit be set, every request takes FastAPI's way in, as before."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.entry: Any = None  # None: not looked for yet; False: FastAPI's way in
        self.table: dict[tuple[str, str], Any] = {}

    def takes(self, scope: types.Scope) -> bool:
        # (a root path, the server's or the app's, is left to FastAPI, as DirectRoutes leaves it)
        if scope["type"] != "http" or scope.get("root_path") or self.app.root_path:
            return False
        if self.entry is None:
            self.entry = self._find()
        return self.entry is not False and (scope.get("method", ""), scope.get("path", "")) in self.table

    def _find(self) -> Any:
        app = self.app
        try:
            telemetry = getattr(app, "_native_telemetry", None)
            if telemetry is not None and telemetry.enabled():
                return False  # FastAPI reports requests to OpenTelemetry: let it see these too
            if getattr(app, "max_body_size", None) is not None:
                return False  # FastAPI's own body limit is configured: it must see these too
            if app.middleware_stack is None:
                app.middleware_stack = app.build_middleware_stack()
            first: Any = app.user_middleware[0].cls if app.user_middleware else DirectRoutes
            node: Any = app.middleware_stack
            outermost: Any = None
            # (a middleware factory that is not a class, e.g. a function, cannot be told apart: FastAPI's way)
            while node is not None and isinstance(first, type):
                if outermost is None and isinstance(node, first):
                    outermost = node
                if isinstance(node, DirectRoutes) and outermost is not None:
                    self.table = node.table
                    handler = app.exception_handlers.get(Exception) or app.exception_handlers.get(500)
                    return ServerErrorMiddleware(outermost, handler=handler, debug=app.debug)
                node = getattr(node, "app", None)
        except Exception as exc:  # whatever goes wrong here must not turn into every request's 500
            log.warning("the hot routes enter through FastAPI: looking at the middleware chain failed (%s)",
                        type(exc).__name__)
            return False
        log.warning("the hot routes enter through FastAPI: the middleware chain is not the expected one")
        return False

    async def __call__(self, scope: types.Scope, receive: types.Receive, send: types.Send) -> None:
        scope["app"] = self.app
        await self.entry(scope, receive, send)
