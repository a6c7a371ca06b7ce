"""The verification service (CONTRACT.md section 6): ``create_app(settings=None)``.

A thin adapter over the public library API: routes parse the request, call ``attest.verify`` /
``attest.inspect`` / ``attest.build``, commit the audit trail and shape the answer. Every error answer is
``application/problem+json``; no request body produces a 5xx; a dependency that is down produces 503 and
no decision.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette import types
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from .. import __version__
from ..errors import DependencyUnavailable
from .body import PARSE_ERROR
from .forwarded import PeerMiddleware
from .middleware import BodyLimitMiddleware, DirectRoutes, HotEntry, RequestContextMiddleware
from .models import VerifyRequest
from .problems import ProblemError, problem
from .ratelimit import EXEMPT, RateLimitMiddleware
from .routes import attestations, audit, authorize, health, inspect, inspector, profiles, verify
from .runtime import Runtime
from .schemas import PROBLEM_MEDIA_TYPE, PROBLEM_REF, Problem, problem_responses
from .settings import Settings, resolve

log = logging.getLogger("attest.service")

#: the routes called before every document-sharing request: straight to their endpoints (DirectRoutes)
DIRECT_PATHS = ("/v1/verify", "/v1/authorize")

DESCRIPTION = """Verification of health-personnel attestations (helsepersonellets attest) under the
Norwegian trust framework (Tillitsrammeverket). Every verification, permit and deny, is recorded as FHIR R4
AuditEvents (HL7 Norway `no-domain-Trustframework-Auditevent`), sealed at rest, before the decision is
returned."""


def _install_sighup(runtime: Runtime) -> Any:
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGHUP, lambda *_: runtime.trust.request_reload())
    except (ValueError, OSError):  # pragma: no cover - not the main thread of the main interpreter
        return None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    runtime.trust.start()
    process = runtime.audit_process
    if process is not None:
        process.start()  # the audit process (ATTEST_AUDIT_PROCESS): running before the first request
    previous = _install_sighup(runtime)
    # What was built up to here (FastAPI, pydantic and the FHIR models, profiles, code lists, the trust
    # store: ~75,000 objects) lives as long as the process. Frozen, the collector no longer walks it in
    # every full collection, which otherwise stalls the event loop for ~25 ms now and then under load.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGHUP, previous)
        # uvicorn has finished the requests in flight; close() also waits for audit writes still running
        for dependency in (process, runtime.replay, runtime.trail.store):
            aclose = getattr(dependency, "aclose", None)
            if aclose is not None:  # their asyncio connections belong to this loop
                await aclose()
        await run_in_threadpool(runtime.close)
        gc.unfreeze()  # the app may be collected again (a process that hosts several apps, like the tests)
        log.info("service stopped")


def _validation_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "malformed-json", "Bad Request", "the request body is not valid JSON")
    # no 'input' echoed: it may hold identity numbers
    details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")),
                "type": str(e.get("type"))} for e in errors[:20]]
    return problem(422, "invalid-request", "Unprocessable Content",
                   "the request does not have the documented shape", errors=details)


def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == PARSE_ERROR:  # FastAPI's (and body.py's) undecodable body
        return problem(400, "malformed-json", "Bad Request",
                       "the request body is not valid JSON (or is nested too deeply to parse)")
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(exc.status_code, "http-" + str(exc.status_code), title, detail,
                   headers=dict(exc.headers) if exc.headers else None)


def _problem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return exc.response()


def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("dependency unavailable: answering 503 without a decision", extra={"reason": str(exc)})
    return problem(503, "dependency-unavailable", "Service Unavailable",
                   "a dependency the decision needs (audit store or replay cache) is down; "
                   "no decision was made",
                   headers={"Retry-After": "5"})


def _internal(request: Request, exc: Exception) -> Response:
    log.error("internal error", exc_info=exc)
    return problem(500, "internal-error", "Internal Server Error", "unexpected error; see the service log")


def _openapi(app: FastAPI, rate_limited: bool) -> dict[str, Any]:
    """The OpenAPI document, with what the middleware and exception handlers add to every operation:
    error answers are problem+json (:class:`~attest.service.schemas.Problem`); an operation with a body
    can answer 400 (not JSON), 413 (over the body limit) and 422 (wrong shape); with a rate limit, 429."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    # request bodies that routes read themselves (service/body.py) and reference by name
    for model in (VerifyRequest,):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas.setdefault(model.__name__, schema)
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            added = [400, 413, 422] if "requestBody" in op else []
            if rate_limited and path not in EXEMPT:
                added.append(429)
            for status, entry in problem_responses(*added).items():
                responses.setdefault(str(status), entry)
            if "429" in responses:
                responses["429"].setdefault("headers", {})["Retry-After"] = {
                    "description": "seconds until the client may send again", "schema": {"type": "integer"}}
            if "503" in responses:
                responses["503"].setdefault("headers", {})["Retry-After"] = {
                    "description": "seconds to wait before retrying (503 of a dependency)",
                    "schema": {"type": "integer"}, "required": False}
            for status, entry in responses.items():
                if status[:1] in ("4", "5"):
                    entry["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = doc
    return doc


class AttestAPI(FastAPI):
    """FastAPI, with the hot routes entering the app's own middleware directly (middleware.HotEntry)."""

    hot: HotEntry | None = None

    async def __call__(self, scope: types.Scope, receive: types.Receive, send: types.Send) -> None:
        hot = self.hot
        if hot is not None and hot.takes(scope):
            await hot(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. ``settings`` default to :meth:`Settings.from_env`; development defaults are filled
    (and announced) by :func:`~attest.service.settings.resolve`. Raises ConfigurationError."""
    resolved = resolve(settings if settings is not None else Settings.from_env())
    for item in resolved.settings.dev_defaults:
        log.warning("development default in use: %s", item)
    runtime = Runtime.build(resolved)
    app = AttestAPI(title="attest verification service", version=__version__, description=DESCRIPTION,
                  lifespan=_lifespan, docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(StarletteHTTPException, _http_problem)
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(DependencyUnavailable, _unavailable)
    app.add_exception_handler(Exception, _internal)
    for module in (verify, authorize, inspect, attestations, profiles, audit, health, inspector):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app, resolved.settings.rate_limit is not None)  # type: ignore[method-assign]
    # outermost last: request id and access log, then the rate limit (before the body is read), then the
    # body limit; innermost, the hot routes called without FastAPI's routing (middleware.DirectRoutes)
    # (their routers are included above as they are: no prefix, no dependencies added at inclusion); their
    # requests enter at the outermost of these (middleware.HotEntry), below FastAPI's own layers
    app.add_middleware(DirectRoutes, routes=[*verify.router.routes, *authorize.router.routes], paths=DIRECT_PATHS,
                       handlers=app.exception_handlers)
    app.add_middleware(BodyLimitMiddleware, max_bytes=resolved.settings.max_body_bytes,
                       read_timeout=resolved.settings.body_read_timeout)
    if resolved.settings.rate_limit is not None:
        app.add_middleware(RateLimitMiddleware, rate=resolved.settings.rate_limit,
                           on_limited=runtime.metrics.rate_limited.inc)
    app.add_middleware(RequestContextMiddleware, metrics=runtime.metrics)
    # the client address behind a trusted proxy (X-Forwarded-For / -Proto), as uvicorn's proxy-header handling;
    # outermost, the TCP peer is recorded first (forwarded.PeerMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(resolved.settings.trusted_proxies))
    app.add_middleware(PeerMiddleware)
    app.hot = HotEntry(app)
    return app
