"""A small contract-faithful service for the runner's tests (CONTRACT.md section 6, ``POST /v1/verify``),
wrapping ``attest.verify`` with a replay cache, plus a "source organisation" endpoint for ``http`` mode that
reads the token from ``Authorization: Bearer`` and answers 200 / 401 by the decision.

The attest-api run against the real service (``attest.service.app.create_app``) is in test_runner.py; this
stand-in adds what the real service does not have (a "source organisation" endpoint for http mode, an endpoint
that redirects) and keeps the runner's own tests independent of the service's settings. Servers bind to
127.0.0.1 on a free port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse

from attest import MemoryReplayCache, TrustStore, VerifyContext, verify


def create_contract_app(trust: TrustStore, profile: str) -> FastAPI:
    app = FastAPI()
    cache = MemoryReplayCache()
    own_clock_cache = MemoryReplayCache()
    source_cache = MemoryReplayCache()
    json_cache = MemoryReplayCache()
    app.state.requests = 0

    @app.post("/v1/verify")
    async def verify_route(request: Request) -> JSONResponse:
        return await _verify(request, cache, allow_now=True)

    @app.post("/own-clock/v1/verify")
    async def verify_own_clock(request: Request) -> JSONResponse:
        """As attest's service in production: context.now is refused (422), the service's clock is used."""
        return await _verify(request, own_clock_cache, allow_now=False)

    async def _verify(request: Request, replay: MemoryReplayCache, allow_now: bool) -> JSONResponse:
        app.state.requests += 1
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"title": "body is not JSON"}, status_code=400,
                                media_type="application/problem+json")
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            return JSONResponse({"title": "body must be {token, context}"}, status_code=422,
                                media_type="application/problem+json")
        if not allow_now and isinstance(body.get("context"), dict) and "now" in body["context"]:
            return JSONResponse({"title": "context.now is not accepted: this service uses its own clock"},
                                status_code=422, media_type="application/problem+json")
        try:
            ctx = VerifyContext.from_dict(body.get("context"))
        except TypeError as exc:
            return JSONResponse({"title": str(exc)}, status_code=422, media_type="application/problem+json")
        decision = verify(body["token"], trust, profile, ctx, replay=replay)
        return JSONResponse(decision.to_dict())

    @app.post("/documents")
    async def documents(
        authorization: str | None = Header(default=None),
        x_patient: str | None = Header(default=None),
        x_pid: str | None = Header(default=None),
        x_hpr: str | None = Header(default=None),
    ) -> JSONResponse:
        app.state.requests += 1
        token = authorization[7:] if authorization and authorization.startswith("Bearer ") else ""
        ctx = VerifyContext(patient_id=x_patient, authenticated_pid=x_pid, authenticated_hpr=x_hpr)
        decision = verify(token, trust, profile, ctx, replay=source_cache)   # the service's own clock
        if decision.permitted:
            return JSONResponse({"documents": []})
        return JSONResponse({"error": decision.errors[0].code}, status_code=401)

    @app.post("/json-documents")
    async def json_documents(request: Request) -> JSONResponse:
        """Token and patient in the JSON body: {"auth": {"token": …}, "patient": …}."""
        app.state.requests += 1
        body = await request.json()
        if request.headers.get("authorization"):
            return JSONResponse({"error": "token expected in the body only"}, status_code=400)
        token = body.get("auth", {}).get("token", "") if isinstance(body, dict) else ""
        ctx = VerifyContext(patient_id=body.get("patient") if isinstance(body, dict) else None)
        decision = verify(token if isinstance(token, str) else "", trust, profile, ctx, replay=json_cache)
        return JSONResponse({}, status_code=200 if decision.permitted else 403)

    @app.post("/moved")
    async def moved() -> Any:
        app.state.requests += 1
        return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=307)

    return app


@contextmanager
def serve(app: Any, lifespan: str = "off") -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 and a free port in a thread; yield the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
